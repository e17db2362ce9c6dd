package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Attributor names what decided each denial: the explicit rule that denied it, or the
// declaration whose absence left the default to deny it. It reads only the Plan the
// components run under, so what it says matches what was enforced.
type Attributor struct {
	plan  *plan.Plan
	names map[string]string
	comps map[string]*plan.Component
}

// NewAttributor indexes p.
func NewAttributor(p *plan.Plan) *Attributor {
	a := &Attributor{plan: p, names: privileges.Addresses(p), comps: map[string]*plan.Component{}}
	for i := range p.Components {
		a.comps[p.Components[i].Name] = &p.Components[i]
	}
	return a
}

// denial starts a denial's details with the keys every layer carries.
func denial(layer, what, decidedBy, rule, reason string) map[string]any {
	d := map[string]any{DetailLayer: layer, DetailWhat: what, DetailDecidedBy: decidedBy, DetailReason: reason}
	if rule != "" {
		d[DetailRule] = rule
	}
	return d
}

// Seccomp explains a syscall the filter refused. action is the kernel's (errno,
// kill_process, log, …).
func (a *Attributor) Seccomp(component, syscall, action string) map[string]any {
	what := "syscall " + syscall
	c := a.comps[component]
	if c == nil {
		return denial(LayerSeccomp, what, "unknown", "", fmt.Sprintf("%s is not a component of %s", component, a.plan.Name))
	}
	var d map[string]any
	var rules []string
	conditional := false
	for _, deny := range c.Seccomp.Denies {
		if deny.Syscall == syscall {
			rules = append(rules, deny.Why)
			conditional = conditional || deny.Args
		}
	}
	switch {
	case action == "log" && c.Mode == plan.ModeAudit && len(rules) > 0:
		d = denial(LayerSeccomp, what, "rule", rules[0], fmt.Sprintf("%s calls %s, which %s denies; audit mode let it through and logged it", component, syscall, ruleName(rules[0])))
	case action == "log" && c.Mode == plan.ModeAudit:
		d = denial(LayerSeccomp, what, "default", "", fmt.Sprintf("%s calls %s, which syscalls.allow does not name; audit mode let it through and logged it", component, syscall))
	case action == "log":
		// on_violation: log lets the call through; the kernel only reports it.
		d = denial(LayerSeccomp, what, "default", "", fmt.Sprintf("%s calls %s, which syscalls.allow does not name; on_violation log let it through and logged it", component, syscall))
	case len(rules) > 0 && !conditional:
		d = denial(LayerSeccomp, what, "rule", rules[0], fmt.Sprintf("%s calls %s, which %s denies", component, syscall, ruleName(rules[0])))
	case len(rules) == 1:
		d = denial(LayerSeccomp, what, "rule", rules[0], fmt.Sprintf("%s calls %s with arguments that %s denies", component, syscall, ruleName(rules[0])))
	case len(rules) > 0:
		// The kernel's record has no arguments: say which rules may have matched, not one.
		names := make([]string, len(rules))
		for i, r := range rules {
			names[i] = ruleName(r)
		}
		d = denial(LayerSeccomp, what, "rule", strings.Join(rules, "; "), fmt.Sprintf("%s calls %s with arguments that one of %d rules denies: %s", component, syscall, len(rules), strings.Join(names, ", ")))
	case allowsUnder(c, syscall):
		d = denial(LayerSeccomp, what, "default", "", fmt.Sprintf("%s calls %s with arguments no syscalls.allow rule covers (on_violation %s)", component, syscall, c.Seccomp.DefaultAction))
	default:
		d = denial(LayerSeccomp, what, "default", "", fmt.Sprintf("%s calls %s, which syscalls.allow does not name (on_violation %s)", component, syscall, c.Seccomp.DefaultAction))
	}
	d["syscall"], d["action"] = syscall, action
	return d
}

// allowsUnder reports whether some allow rule names syscall under argument conditions.
func allowsUnder(c *plan.Component, syscall string) bool {
	for _, r := range c.Seccomp.Rules {
		if r.Action == "allow" && len(r.Args) > 0 && slices.Contains(r.Syscalls, syscall) {
			return true
		}
	}
	return false
}

// ruleName keeps the "file:line:col field" part of a Why and drops its value.
func ruleName(why string) string {
	if f := strings.Fields(why); len(f) >= 2 {
		return f[1] + " (" + f[0] + ")"
	}
	return why
}

// Landlock explains an access the ruleset refused. blockers are the kernel's names
// ("fs.write_file", "net.connect_tcp", "scope.signal"); path is as the sandbox sees it;
// port is the TCP port of a net blocker.
func (a *Attributor) Landlock(component string, blockers []string, target string, port int) map[string]any {
	rights := make([]string, 0, len(blockers))
	for _, b := range blockers {
		rights = append(rights, b[strings.IndexByte(b, '.')+1:])
	}
	c := a.comps[component]
	var d map[string]any
	switch {
	case c == nil:
		d = denial(LayerLandlock, strings.Join(rights, ",")+" "+target, "unknown", "", fmt.Sprintf("%s is not a component of %s", component, a.plan.Name))
	case hasPrefix(blockers, "net.bind_tcp") && port == 0:
		d = denial(LayerLandlock, "bind 0/tcp", "default", "",
			fmt.Sprintf("%s binds a TCP socket to port 0 (any free port), which only a network.listen of port 0 would allow", component))
	case hasPrefix(blockers, "net.bind_tcp"):
		d = denial(LayerLandlock, fmt.Sprintf("bind %d/tcp", port), "default", "",
			fmt.Sprintf("%s binds %d/tcp, which network.listen does not name", component, port))
	case hasPrefix(blockers, "net."):
		d = denial(LayerLandlock, fmt.Sprintf("connect %d/tcp", port), "default", "",
			fmt.Sprintf("%s connects to port %d/tcp, which no network.connect or network.listen names", component, port))
	case hasPrefix(blockers, "scope."):
		d = denial(LayerLandlock, strings.Join(rights, ","), "default", "",
			fmt.Sprintf("%s reaches outside its sandbox (%s); Landlock scopes it to the sandbox", component, strings.Join(rights, ", ")))
	default:
		what := strings.Join(rights, ",") + " " + target
		if grant := nearestGrant(c, target); grant != nil {
			d = denial(LayerLandlock, what, "default", "", fmt.Sprintf("%s needs %s on %s, but the nearest grant, %s, gives only %s",
				component, strings.Join(rights, ", "), target, grantName(grant), strings.Join(grant.Access, ", ")))
		} else {
			d = denial(LayerLandlock, what, "default", "", fmt.Sprintf("%s needs %s on %s, which no filesystem declaration names",
				component, strings.Join(rights, ", "), target))
		}
	}
	d["blockers"] = blockers
	if target != "" {
		d["path"] = target
	}
	if port != 0 {
		d["dport"] = port
	}
	return d
}

func hasPrefix(list []string, prefix string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

// nearestGrant is the Landlock path rule with the longest path at or above target.
func nearestGrant(c *plan.Component, target string) *plan.PathRule {
	var best *plan.PathRule
	for i, r := range c.Landlock.Paths {
		if target == r.Path || strings.HasPrefix(target, strings.TrimSuffix(r.Path, "/")+"/") {
			if best == nil || len(r.Path) > len(best.Path) {
				best = &c.Landlock.Paths[i]
			}
		}
	}
	return best
}

func grantName(r *plan.PathRule) string {
	if r.Why == "" {
		return r.Path
	}
	if strings.HasPrefix(r.Why, "built-in") {
		return r.Path + " (" + r.Why + ")"
	}
	return ruleName(r.Why) + " " + r.Path
}

// Network explains a packet a component's firewall dropped. chain is "ingress" (the
// component was called) or "egress" (it called).
func (a *Attributor) Network(component, chain, proto string, src, dst netip.Addr, dport uint16) map[string]any {
	verb := "connects to"
	if proto != "tcp" {
		verb = "sends " + proto + " to"
	}
	from, to := a.name(src), a.name(dst)
	port := fmt.Sprintf("%d/%s", dport, proto)
	what := fmt.Sprintf("%s %s %s:%s", from, verb, to, port)
	if proto != "tcp" && proto != "udp" {
		port, what = proto, fmt.Sprintf("%s %s %s", from, verb, to)
	}
	var reason string
	switch {
	case a.comps[component] == nil:
		reason = fmt.Sprintf("%s is not a component of %s", component, a.plan.Name)
	case chain == "egress":
		reason = a.egressReason(from, to, dst, proto, dport, port)
	default:
		reason = a.ingressReason(from, to, src, dst, proto, dport, port)
	}
	d := denial(LayerNetwork, what, "default", "", what+", but "+reason)
	d["chain"], d["proto"], d["src"], d["dst"], d["dport"] = chain, proto, src.String(), dst.String(), dport
	if peer := a.Peer(component, dst.String()); peer != "" {
		d["peer"] = peer
	}
	return d
}

// Peer names what of the stack holds the address dst, a destination of component's:
// another component, or "host" for the bridge; "" for any other address and for the
// component's own. A network denial carries it as details.peer (`confine learn` writes
// PEER:PORT/PROTO from it).
func (a *Attributor) Peer(component, dst string) string {
	addr, err := netip.ParseAddr(dst)
	if err != nil {
		return ""
	}
	if n := a.names[addr.Unmap().String()]; n != "" && n != component {
		return n
	}
	return ""
}

func (a *Attributor) egressReason(from, to string, dst netip.Addr, proto string, dport uint16, port string) string {
	callee := a.comps[to]
	switch {
	case to == "host":
		return fmt.Sprintf("%s's network.connect does not name host:%s (the host's own services are reached only through connect: host:PORT/PROTO)", from, port)
	case callee == nil:
		return fmt.Sprintf("%s's network.connect does not name %s:%s", from, dst, port)
	case !listens(callee, proto, dport):
		return fmt.Sprintf("%s's network.connect does not name %s:%s, and %s does not listen on %s", from, to, port, to, port)
	case !admits(callee, a.plan, from, proto, dport):
		return fmt.Sprintf("%s's network.connect does not name %s:%s, nor does %s's listen.from name %s", from, to, port, to, from)
	}
	return fmt.Sprintf("%s's network.connect does not name %s:%s", from, to, port)
}

func (a *Attributor) ingressReason(from, to string, src, dst netip.Addr, proto string, dport uint16, port string) string {
	callee := a.comps[to]
	if callee == nil {
		return fmt.Sprintf("%s is not a component's address", dst)
	}
	if !listens(callee, proto, dport) {
		return fmt.Sprintf("%s's network.listen does not name %s", to, port)
	}
	if caller := a.comps[from]; caller != nil {
		if why := flowWhy(caller, "egress", proto, dport, dst, false); why != "" {
			return fmt.Sprintf("%s's listen.from does not name %s (the call is declared at %s)", to, from, strings.Fields(why)[0])
		}
	}
	return fmt.Sprintf("%s's listen.from does not name %s", to, from)
}

// name is the component (or "host") at addr, or the address itself.
func (a *Attributor) name(addr netip.Addr) string {
	if n := a.names[addr.String()]; n != "" {
		return n
	}
	return addr.String()
}

func listens(c *plan.Component, proto string, port uint16) bool {
	return slices.ContainsFunc(c.Net.Listen, func(l plan.Port) bool {
		return l.Proto == proto && l.First <= port && port <= l.Last
	})
}

// admits reports whether callee's ingress set lets caller in on the port.
func admits(callee *plan.Component, p *plan.Plan, caller, proto string, port uint16) bool {
	for _, c := range p.Components {
		if c.Name == caller && c.Net.Address != "" {
			addr, err := netip.ParseAddr(c.Net.Address)
			return err == nil && flowWhy(callee, "ingress", proto, port, addr, true) != ""
		}
	}
	return false
}

// flowWhy is the Why of c's flow in set that covers port and, on its dst side (or its
// src side when bySrc), addr; "" when none does.
func flowWhy(c *plan.Component, set, proto string, port uint16, addr netip.Addr, bySrc bool) string {
	for _, f := range c.Net.Firewall.Flows {
		cidr := f.Dst
		if bySrc {
			cidr = f.Src
		}
		if f.Set == set && f.Proto == proto && f.First <= port && port <= f.Last && contains(cidr, addr) {
			return f.Why
		}
	}
	return ""
}

func contains(cidr string, addr netip.Addr) bool {
	pfx, err := netip.ParsePrefix(cidr)
	return err == nil && pfx.Contains(addr)
}
