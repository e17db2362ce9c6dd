package supervisor

import (
	"net/netip"

	"github.com/confine-sandbox/confine/netfilter"
)

// The stack firewall in the bridge namespace drops what a component's own table let
// out but the stack does not allow: nothing, while that table stands, since both are
// compiled from the same declarations; something once a component that keeps NET_ADMIN
// has flushed its own. Its drops are then the only record of what the component tried.

// openBridgeDrops listens for the stack firewall's drops in the bridge namespace; a
// failure only costs their denials, as for the uplink's.
func (s *Supervisor) openBridgeDrops(warn func(string)) {
	if s.bridge == nil {
		return
	}
	fw := s.plan.Network.Firewall
	r, err := netfilter.ListenLog(s.bridge.NSPath, fw.LogGroup)
	if err != nil {
		if warn != nil {
			warn("the stack firewall's drops will not be logged: " + err.Error())
		}
		return
	}
	if err := r.CountSuppressed(fw.Table); err != nil && warn != nil {
		warn("the stack firewall's unlogged drops will not be counted: " + err.Error())
	}
	s.bridgeDrops = r
}

// forwardBridgeDrops emits a denial for each drop, attributed to the component that
// sent the packet (or, failing that, the one it was sent to), until the reader closes.
// Started once s.comps is set.
func (s *Supervisor) forwardBridgeDrops() {
	byAddr := map[netip.Addr]string{}
	for _, c := range s.comps {
		if a, err := netip.ParseAddr(c.plan.Net.Address); err == nil {
			byAddr[a] = c.plan.Name
		}
	}
	for {
		rec, err := s.bridgeDrops.Next()
		if err != nil {
			return
		}
		if rec.Suppressed > 0 {
			s.events.emit("", EventSuppressed, SuppressedDetails("bridge ", rec))
			continue
		}
		chain, observed := netfilter.LogChain(rec.Prefix)
		if observed {
			continue // an audit-mode component's: its own chain records it, as observed
		}
		name, side := byAddr[rec.Src], "egress"
		if name == "" {
			name, side = byAddr[rec.Dst], "ingress"
		}
		details := s.attribute.Network(name, side, rec.Proto, rec.Src, rec.Dst, rec.DstPort)
		details["chain"] = "bridge " + chain
		s.attribute.Classify(details)
		s.events.emit(name, EventDenial, details)
	}
}
