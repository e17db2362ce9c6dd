package diff

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// diffSpan is a protocol and an inclusive port range.
type diffSpan struct {
	proto       string
	first, last int
}

func (s diffSpan) String() string { return plan.PortString(s.proto, uint16(s.first), uint16(s.last)) }

func (s diffSpan) within(o diffSpan) bool {
	return s.proto == o.proto && s.first >= o.first && s.last <= o.last
}

// diffUncovered returns the parts of s that no span of by covers: a range widened from
// 5000-5005 to 5000-5010 grants 5006-5010 only.
func diffUncovered(s diffSpan, by []diffSpan) []diffSpan {
	var same []diffSpan
	for _, b := range by {
		if b.proto == s.proto {
			same = append(same, b)
		}
	}
	slices.SortFunc(same, func(a, b diffSpan) int { return a.first - b.first })
	var out []diffSpan
	cur := s.first
	for _, b := range same {
		if b.last < cur {
			continue
		}
		if b.first > s.last {
			break
		}
		if b.first > cur {
			out = append(out, diffSpan{s.proto, cur, b.first - 1})
		}
		cur = b.last + 1
		if cur > s.last {
			return out
		}
	}
	return append(out, diffSpan{s.proto, cur, s.last})
}

// diffFlow is one firewall element read back: the caller (ingress) or the destination
// (egress) by name, its ports and the declaration.
type diffFlow struct {
	peer    string       // component name, "host", an address or a CIDR
	prefix  netip.Prefix // the destination, for egress to addresses outside the stack
	outside bool
	span    diffSpan
	why     string
}

func diffFlows(s *diffSide) (listen []diffSpan, ingress, egress []diffFlow, unresolved []string) {
	if s == nil {
		return nil, nil, nil, nil
	}
	for _, l := range s.c.Net.Listen {
		listen = append(listen, diffSpan{l.Proto, int(l.First), int(l.Last)})
	}
	for _, f := range s.c.Net.Firewall.Flows {
		span := diffSpan{f.Proto, int(f.First), int(f.Last)}
		switch f.Set {
		case "ingress":
			ingress = append(ingress, diffFlow{peer: privileges.CallerName(f, s.names), span: span, why: f.Why})
		case "egress":
			nf := diffFlow{peer: s.names[privileges.HostOf(f.Dst)], span: span, why: f.Why}
			if nf.peer == "" {
				nf.outside = true
				nf.prefix, _ = netip.ParsePrefix(f.Dst)
				nf.peer = diffHost(nf.prefix, f.Dst)
			}
			egress = append(egress, nf)
		}
	}
	for _, f := range s.c.Net.Gateway { // a lone run's `host`, its uplink's gateway
		span := diffSpan{f.Proto, int(f.First), int(f.Last)}
		if f.Set == "ingress" {
			ingress = append(ingress, diffFlow{peer: "host", span: span, why: f.Why})
		} else if f.Why != plan.ResolverWhy {
			egress = append(egress, diffFlow{peer: "host", span: span, why: f.Why})
		}
	}
	for _, n := range s.c.Net.Names { // a DNS name: whatever it answers, for its TTL
		egress = append(egress, diffFlow{peer: n.Name, outside: true, span: diffSpan{n.Proto, int(n.First), int(n.Last)}, why: n.Why})
	}
	return listen, ingress, egress, s.c.Net.Unresolved
}

// diffHost writes a destination as policies do: an address alone, a CIDR, [v6].
func diffHost(p netip.Prefix, raw string) string {
	switch {
	case !p.IsValid():
		return raw
	case p.IsSingleIP() && p.Addr().Is6():
		return "[" + p.Addr().String() + "]"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}

// covers reports whether o's destination includes f's: the same component, or a CIDR
// holding f's.
func (o diffFlow) covers(f diffFlow) bool {
	if o.outside != f.outside {
		return false
	}
	if !o.outside || !o.prefix.IsValid() || !f.prefix.IsValid() {
		return o.peer == f.peer
	}
	return o.prefix.Bits() <= f.prefix.Bits() && o.prefix.Contains(f.prefix.Addr())
}

// diffFlowChanges reports the ports of each flow of from that no flow of against to the
// same peer (or a wider CIDR) allows.
func diffFlowChanges(from, against []diffFlow, report func(f diffFlow, s diffSpan)) {
	for _, f := range from {
		var by []diffSpan
		for _, a := range against {
			if a.covers(f) {
				by = append(by, a.span)
			}
		}
		for _, s := range diffUncovered(f.span, by) {
			report(f, s)
		}
	}
}

// diffListeners compares the served ports and their callers. A new port is one grant
// naming its callers; a new caller of a port already served is one of its own.
func diffListeners(o, n *diffSide, cs *diffChangeSet) {
	oListen, oIn, _, oUn := diffFlows(o)
	nListen, nIn, _, nUn := diffFlows(n)
	diffListenChanges(nListen, oListen, nIn, oIn, n, func(what, detail, why string) { cs.grant(ChangeListen, what, detail, why) },
		func(what, detail, why string) { cs.grant(ChangeCaller, what, detail, why) })
	if o != nil {
		diffListenChanges(oListen, nListen, oIn, nIn, o, func(what, detail, why string) { cs.take(ChangeListen, what, detail, why) },
			func(what, detail, why string) { cs.take(ChangeCaller, what, detail, why) })
	}
	diffUnresolved(o, n, nUn, oUn, "listen ", ChangeCaller, cs)
}

func diffListenChanges(from, against []diffSpan, fromIn, againstIn []diffFlow, s *diffSide, port, caller func(what, detail, why string)) {
	type served struct {
		span    diffSpan
		callers []string
		why     string
	}
	var ports []*served
	for _, l := range from {
		for _, u := range diffUncovered(l, against) {
			ports = append(ports, &served{span: u})
		}
	}
	diffFlowChanges(fromIn, againstIn, func(f diffFlow, sp diffSpan) {
		for _, p := range ports {
			if sp.within(p.span) {
				if !slices.Contains(p.callers, f.peer) {
					p.callers = append(p.callers, f.peer)
				}
				p.why = diffOr(p.why, f.why)
				return
			}
		}
		caller(sp.String()+" from "+f.peer, "", f.why)
	})
	for _, p := range ports {
		detail := ""
		if len(p.callers) > 0 {
			detail = "from " + strings.Join(p.callers, ", ")
		}
		port(p.span.String(), detail, diffOr(p.why, s.field("network.listen")))
	}
}

// diffReaches compares the flows a component may open, to peers and outside addresses.
func diffReaches(o, n *diffSide, cs *diffChangeSet) {
	_, _, oOut, oUn := diffFlows(o)
	_, _, nOut, nUn := diffFlows(n)
	diffFlowChanges(nOut, oOut, func(f diffFlow, s diffSpan) { cs.grant(ChangeReach, diffReachString(f, s), diffReachDetail(f), f.why) })
	if o != nil {
		diffFlowChanges(oOut, nOut, func(f diffFlow, s diffSpan) { cs.take(ChangeReach, diffReachString(f, s), diffReachDetail(f), f.why) })
	}
	diffUnresolved(o, n, nUn, oUn, "connect ", ChangeReach, cs)
}

func diffReachString(f diffFlow, s diffSpan) string { return f.peer + ":" + s.String() }

func diffReachDetail(f diffFlow) string {
	if f.outside {
		return "outside the stack"
	}
	return ""
}

// diffUnresolved compares the declarations naming components that a component compiled
// on its own cannot resolve ("connect db:5432/tcp"): compared as written.
func diffUnresolved(o, n *diffSide, nUn, oUn []string, prefix, kind string, cs *diffChangeSet) {
	const detail = "a component: resolved only in a stack"
	for _, u := range diffMinus(nUn, oUn) {
		if what, ok := strings.CutPrefix(u, prefix); ok {
			cs.grant(kind, what, detail, n.field("network"))
		}
	}
	if o == nil {
		return
	}
	for _, u := range diffMinus(oUn, nUn) {
		if what, ok := strings.CutPrefix(u, prefix); ok {
			cs.take(kind, what, detail, o.field("network"))
		}
	}
}

// diffPublished compares the host ports forwarded to the component.
func diffPublished(o, n *diffSide, cs *diffChangeSet) {
	key := func(p plan.Publish) string {
		host := p.HostAddress
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			host = "[" + host + "]"
		}
		return fmt.Sprintf("%s:%d/%s → %s:%d", host, p.HostPort, p.Proto, p.Component, p.Port)
	}
	var before []string
	if o != nil {
		for _, p := range o.published {
			before = append(before, key(p))
		}
	}
	var after []string
	for _, p := range n.published {
		after = append(after, key(p))
	}
	for _, k := range diffMinus(after, before) {
		cs.grant(ChangePublish, k, "", "stack "+n.stack+" publish")
	}
	for _, k := range diffMinus(before, after) {
		cs.take(ChangePublish, k, "", "stack "+o.stack+" publish")
	}
}
