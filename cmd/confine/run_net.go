//go:build !confine_slim

package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
)

// loneNet is a lone run's way to the host (docs/network.md): the uplink from the
// component's namespace, the ports `-p` publishes, and the loopback proxy.
type loneNet struct {
	u     *netfilter.Uplink
	n     plan.Network
	hosts string // the component's /etc/hosts, when it connects to `host`
	// resolv is its /etc/resolv.conf when it declares names (c), which the run's
	// resolver on the gateway answers.
	resolv      string
	c           *plan.Component
	stopResolve func()
	stderr      io.Writer
	listeners   []net.Listener
	rewrite     *netfilter.Rewrite // the loopback's connect-time rewrite, or nil
	// ra, when it logs, gets the host table's drops as denials.
	ra    *runAudit
	drops *netfilter.LogReader
	// forwarded is closed when forwardDrops has returned.
	forwarded chan struct{}
}

// openLoneNet reserves the uplink of a lone run when its Plan or -p asks for one, and
// fills in what `host` means (the uplink's gateway) in the component's flows, and where
// its resolver is when it declares names. It changes nothing on the host: attach does,
// once the component's namespace exists. nil, nil: the run needs no uplink, and its
// host stays as it was.
func openLoneNet(p *plan.Plan, c *plan.Component, specs []string, stderr io.Writer) (*loneNet, error) {
	if len(specs) > 0 && !p.Single {
		return nil, fmt.Errorf("-p publishes a lone component's port; a stack's component is published by the stack file's publish")
	}
	pubs := make([]plan.Publish, 0, len(specs))
	for _, spec := range specs {
		pub, err := parsePublishFlag(spec)
		if err != nil {
			return nil, err
		}
		if err := publishAllowed(c, pub, spec); err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
	}
	if !p.Single || p.Network.Uplink == nil && len(pubs) == 0 {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		if len(pubs) > 0 {
			return nil, fmt.Errorf("-p needs root: the published port is DNAT'd on the host")
		}
		fmt.Fprintf(stderr, "confine: warning: without root a lone run has no uplink: its outside destinations, DNS names and host:PORT are unreachable\n")
		return nil, nil
	}
	u, err := netfilter.ReserveLoneUplink("run." + strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
	}
	ln := &loneNet{u: u, stderr: stderr, n: plan.Network{Uplink: p.Network.Uplink, Published: pubs}}
	// The host table filters the component's egress again, unless it is in audit mode.
	ln.n.Firewall.Audit = c.Net.Firewall.Audit
	gw := u.Gateway.String() + "/32"
	connectsHost := false
	for _, f := range c.Net.Gateway {
		if f.Set == "egress" {
			f.Dst, connectsHost = gw, true
		} else {
			f.Src = gw
		}
		if !slices.ContainsFunc(c.Net.Firewall.Flows, func(g plan.Flow) bool { return covers(g, f) }) {
			c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, f)
		}
	}
	for i := range ln.n.Published {
		ln.n.Published[i].Component, ln.n.Published[i].Address = c.Name, u.Peer.String()
	}
	if connectsHost {
		ln.hosts = fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n%s\thost\n", u.Peer, c.Process.Hostname, u.Gateway)
	}
	if len(c.Net.Names) > 0 {
		ln.c = c
		ln.resolv = "nameserver " + u.Gateway.String() + "\noptions ndots:1 attempts:2 timeout:2\n"
	}
	return ln, nil
}

// attach makes the uplink in the component's namespace and opens the host's side, then
// the loopback proxy; it runs before the component's first instruction.
func (ln *loneNet) attach(sb *sandbox.Sandbox) error {
	if err := ln.u.AttachLone(sb.NetNS(), ln.n); err != nil {
		return err
	}
	if ln.u.Warning != "" {
		fmt.Fprintf(ln.stderr, "confine: warning: %s\n", ln.u.Warning)
	}
	if ln.ra != nil && ln.ra.enabled() {
		ln.ra.emit(supervisor.EventUplink, map[string]any{"link": ln.u.Link, "gateway": ln.u.Gateway.String(),
			"address": ln.u.Peer.String(), "warning": ln.u.Warning})
		if r, err := netfilter.ListenLog("", ln.u.LogGroup); err == nil {
			if err := r.CountSuppressed(ln.u.HostTable()); err != nil {
				fmt.Fprintf(ln.stderr, "confine: warning: the uplink's unlogged drops will not be counted: %v\n", err)
			}
			ln.drops, ln.forwarded = r, make(chan struct{})
			go func() { defer close(ln.forwarded); ln.forwardDrops(r) }()
		} else {
			fmt.Fprintf(ln.stderr, "confine: warning: the uplink's drops on the host will not be logged: %v\n", err)
		}
	}
	if ln.c != nil {
		deny := func(d map[string]any) {
			if ln.ra != nil {
				ln.ra.emit(audit.KindDenial, d)
			}
		}
		answers := supervisor.NewDNSAnswers()
		if ln.ra != nil {
			ln.ra.nameAnswers(answers, ln.u.Peer)
		}
		stop, err := supervisor.ServeLoneNames(ln.u.Gateway.String(), ln.c, ln.u.Peer, sb.NetNS(), answers, deny, ln.u.PinHostNames)
		if err != nil {
			return err
		}
		ln.stopResolve = stop
	}
	return ln.proxy()
}

// close removes the uplink and puts back what only it held.
func (ln *loneNet) close() {
	if ln == nil {
		return
	}
	ln.rewrite.Close()
	for _, l := range ln.listeners {
		l.Close()
	}
	ln.closeDrops()
	if ln.stopResolve != nil {
		ln.stopResolve()
	}
	if err := ln.u.Remove(); err != nil {
		fmt.Fprintf(ln.stderr, "confine: warning: removing the uplink: %v\n", err)
	}
}

// closeDrops ends the host table's drops reader once its last records, the count of
// what it did not log among them, are denials: before the run's log closes, while the
// host table stands.
func (ln *loneNet) closeDrops() {
	if ln == nil || ln.drops == nil {
		return
	}
	ln.drops.Close()
	<-ln.forwarded
	ln.drops = nil
}

// forwardDrops turns the host table's drops into denials, as a stack's supervisor does
// (supervisor/uplink.go).
func (ln *loneNet) forwardDrops(r *netfilter.LogReader) {
	for {
		rec, err := r.Next()
		if err != nil {
			return
		}
		if rec.Suppressed > 0 {
			ln.ra.emit(supervisor.EventSuppressed, supervisor.SuppressedDetails("uplink ", rec))
			continue
		}
		chain := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(rec.Prefix, "confine-drop "), ": "))
		what := fmt.Sprintf("%s to the host %s:%d/%s", rec.Src, rec.Dst, rec.DstPort, rec.Proto)
		reason := "the host's own addresses are reachable only through a declared connect: host:PORT/PROTO"
		switch chain {
		case "into-stack":
			what = fmt.Sprintf("%s routed through the host to %s:%d/%s", rec.Src, rec.Dst, rec.DstPort, rec.Proto)
			reason = "nothing enters the component through the host but replies and published ports"
		case "from-run":
			// Its own firewall let this out (flushed with NET_ADMIN, or bypassed by a
			// packet socket with NET_RAW): the host's copy of its egress did not.
			what = fmt.Sprintf("%s to %s:%d/%s through the host", rec.Src, rec.Dst, rec.DstPort, rec.Proto)
			reason = "the host forwards only the declared connect destinations (checked again on the host, past the component's own firewall)"
		case "spoofed":
			what = fmt.Sprintf("%s (not the run's address %s) to %s:%d/%s", rec.Src, ln.u.Peer, rec.Dst, rec.DstPort, rec.Proto)
			reason = "the host takes from the run's uplink only packets from its own address"
		}
		ln.ra.emit(audit.KindDenial, map[string]any{
			audit.DetailLayer: audit.LayerNetwork, audit.DetailWhat: what, audit.DetailDecidedBy: "default",
			audit.DetailReason: what + ", but " + reason, "chain": "uplink " + chain,
			"proto": rec.Proto, "src": rec.Src.String(), "dst": rec.Dst.String(), "dport": rec.DstPort,
		})
	}
}

// covers reports whether flow g already allows all of f: an interval set refuses an
// element inside another (a declared 0.0.0.0/0:53/udp holds the resolver's host:53).
func covers(g, f plan.Flow) bool {
	gs, err1 := netip.ParsePrefix(g.Src)
	gd, err2 := netip.ParsePrefix(g.Dst)
	fs, err3 := netip.ParsePrefix(f.Src)
	fd, err4 := netip.ParsePrefix(f.Dst)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return false
	}
	return g.Set == f.Set && g.Proto == f.Proto && g.First <= f.First && f.Last <= g.Last &&
		gs.Bits() <= fs.Bits() && gs.Contains(fs.Addr()) && gd.Bits() <= fd.Bits() && gd.Contains(fd.Addr())
}

// parsePublishFlag reads -p [ADDR:]HOSTPORT:PORT[/PROTO], as docker run -p does; the
// address is 0.0.0.0 (every address of the host) unless given.
func parsePublishFlag(spec string) (plan.Publish, error) {
	bad := func(why string) (plan.Publish, error) {
		return plan.Publish{}, fmt.Errorf("-p %s: %s; expected [ADDR:]HOSTPORT:PORT[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:5353:53/udp", spec, why)
	}
	rest, proto, hasProto := strings.Cut(spec, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return bad(fmt.Sprintf("protocol %q is neither tcp nor udp", proto))
	}
	parts := strings.Split(rest, ":")
	addr := "0.0.0.0"
	switch len(parts) {
	case 2:
	case 3:
		addr, parts = parts[0], parts[1:]
	default:
		return bad("wrong number of fields")
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return bad(fmt.Sprintf("%q is not an IPv4 address", addr))
	}
	var ports [2]uint16
	for i, s := range parts {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return bad(fmt.Sprintf("%q is not a port (1-65535)", s))
		}
		ports[i] = uint16(n)
	}
	if a.IsLoopback() && proto == "udp" {
		return bad("a loopback address can publish tcp only (its proxy never uses route_localnet, CVE-2020-8558); publish udp on another address")
	}
	return plan.Publish{HostAddress: a.String(), HostPort: ports[0], Port: ports[1], Proto: proto, Kernel: !a.IsLoopback()}, nil
}

// publishAllowed refuses a port whose listen entry names neither `host` nor a client
// by address: nothing could reach it, and the run would look published.
func publishAllowed(c *plan.Component, pub plan.Publish, spec string) error {
	covers := func(f plan.Flow) bool {
		return f.Set == "ingress" && f.Proto == pub.Proto && f.First <= pub.Port && pub.Port <= f.Last
	}
	host, client := false, false
	for _, f := range c.Net.Gateway {
		host = host || covers(f)
	}
	for _, f := range c.Net.Firewall.Flows {
		if src, err := netip.ParsePrefix(f.Src); err == nil && covers(f) && !(src.Addr().IsLoopback() && src.Bits() >= 8) {
			client = true
		}
	}
	a, _ := netip.ParseAddr(pub.HostAddress)
	switch {
	case a.IsLoopback() && !host:
		return fmt.Errorf("-p %s: %s's network.listen does not let `host` reach %d/%s: the loopback proxy connects from the host; add `- port: %d/%s` with `from: [host]`", spec, c.Name, pub.Port, pub.Proto, pub.Port, pub.Proto)
	case !host && !client:
		return fmt.Errorf("-p %s: %s's network.listen names no client for %d/%s: add `- port: %d/%s` with `from: [host]` (the host's own connections) or the clients' addresses or CIDRs (DNAT keeps them)", spec, c.Name, pub.Port, pub.Proto, pub.Port, pub.Proto)
	}
	return nil
}
