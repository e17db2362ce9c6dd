package supervisor

import (
	"fmt"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
)

// EventUplink reports the stack's uplink: its addresses, and what on the host will keep
// egress from working (an iptables FORWARD policy of DROP).
const EventUplink = "network.uplink"

// openUplink gives the stack its way out when the Plan asks for one (plan.Uplink), and
// turns the host table's drops into denial events.
func (s *Supervisor) openUplink(warn func(string)) error {
	if s.plan.Network.Uplink == nil || s.bridge == nil {
		return nil
	}
	u, err := netfilter.CreateUplink(s.bridge, s.plan.Network)
	if err != nil {
		return err
	}
	s.uplink = u
	details := map[string]any{"link": u.Link, "gateway": u.Gateway.String(), "address": u.Peer.String()}
	if u.Warning != "" {
		details["warning"] = u.Warning
		if warn != nil {
			warn(u.Warning)
		}
	}
	s.events.emit("", EventUplink, details)
	r, err := netfilter.ListenLog("", u.LogGroup)
	if err != nil {
		if warn != nil {
			warn("the uplink's drops on the host will not be logged: " + err.Error())
		}
		return nil
	}
	if err := r.CountSuppressed(u.HostTable()); err != nil && warn != nil {
		warn("the uplink's unlogged drops will not be counted: " + err.Error())
	}
	s.uplinkDrops = r
	s.hostDrops.Add(1)
	go func() { defer s.hostDrops.Done(); s.forwardUplinkDrops(r) }()
	return nil
}

// forwardUplinkDrops emits a denial for each packet the host table dropped: the host's
// own addresses are reachable only through connect: host:PORT/PROTO, and nothing enters
// the stack through the host but replies and published ports.
func (s *Supervisor) forwardUplinkDrops(r *netfilter.LogReader) {
	for {
		rec, err := r.Next()
		if err != nil {
			return
		}
		if rec.Suppressed > 0 {
			s.events.emit("", EventSuppressed, SuppressedDetails("uplink ", rec))
			continue
		}
		chain, _ := netfilter.LogChain(rec.Prefix)
		what := fmt.Sprintf("%s to the host %s:%d/%s", rec.Src, rec.Dst, rec.DstPort, rec.Proto)
		reason := "the host's own addresses are reachable only through a declared connect: host:PORT/PROTO"
		if chain == "into-stack" {
			what = fmt.Sprintf("%s routed through the host to %s:%d/%s", rec.Src, rec.Dst, rec.DstPort, rec.Proto)
			reason = "nothing enters the stack through the host but replies and published ports"
		}
		s.events.emit("", EventDenial, map[string]any{
			audit.DetailLayer: audit.LayerNetwork, audit.DetailWhat: what, audit.DetailDecidedBy: "default",
			audit.DetailReason: what + ", but " + reason, "chain": "uplink " + chain,
			"proto": rec.Proto, "src": rec.Src.String(), "dst": rec.Dst.String(), "dport": rec.DstPort,
		})
	}
}

// closeUplink removes the uplink and puts back what only it held.
func (s *Supervisor) closeUplink() {
	if s.uplinkDrops != nil {
		s.uplinkDrops.Close()
	}
	if s.uplink != nil {
		s.uplink.Remove()
	}
}
