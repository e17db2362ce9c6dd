// Package explain tells a reviewer, in plain words, what a compiled Plan lets each
// component do. It reads only the Plan, so it explains exactly what would be enforced.
package explain

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Write explains p to w.
func Write(w io.Writer, p *plan.Plan) {
	e := &writer{w: w, names: map[string]string{}}
	for _, c := range p.Components {
		if c.Net.Address != "" {
			e.names[c.Net.Address+"/32"] = c.Name
		}
	}
	if p.Network.BridgeAddress != "" {
		e.names[p.Network.BridgeAddress+"/32"] = "the host"
	}
	if !p.Single {
		e.line(0, "Stack %s: %d components on a private bridge %s (bridge address %s).", p.Name, len(p.Components), p.Network.Subnet, p.Network.BridgeAddress)
		e.stack(p)
		e.line(0, "")
	}
	for i := range p.Components {
		e.component(&p.Components[i])
		e.line(0, "")
	}
}

type writer struct {
	w     io.Writer
	names map[string]string // CIDR → component name, in a stack
}

// peer names a flow's end: a component, the host, anywhere, or the CIDR itself.
func (e *writer) peer(cidr string) string {
	switch {
	case e.names[cidr] != "":
		return e.names[cidr]
	case cidr == "0.0.0.0/0":
		return "any address"
	case strings.HasSuffix(cidr, "/32"):
		return strings.TrimSuffix(cidr, "/32")
	}
	return cidr
}

func (e *writer) line(indent int, format string, args ...any) {
	fmt.Fprintf(e.w, "%s%s\n", strings.Repeat("  ", indent), fmt.Sprintf(format, args...))
}

func (e *writer) stack(p *plan.Plan) {
	e.line(1, "Traffic between components passes only for these flows; all else is dropped and logged:")
	if len(p.Network.Firewall.Flows) == 0 {
		e.line(2, "(none)")
	}
	for _, f := range p.Network.Firewall.Flows {
		e.line(2, "%s → %s on %s", e.peer(f.Src), e.peer(f.Dst), plan.PortString(f.Proto, f.First, f.Last))
	}
	if e.stackChannels(p) == 0 && len(p.Network.Firewall.Flows) == 0 {
		e.line(1, "No flow and no channel through the filesystem: the components cannot reach each other.")
	}
	for _, pub := range p.Network.Published {
		e.line(1, "Publishes %s:%d on the host to %s:%d/%s.", pub.HostAddress, pub.HostPort, pub.Component, pub.Port, pub.Proto)
	}
}

func (e *writer) component(c *plan.Component) {
	pr := c.Process
	e.line(0, "Component %s (%s, sha256 %s)", c.Name, c.Source, short(c.SourceHash))
	if c.Mode == plan.ModeAudit && c.Audit != nil {
		e.line(1, "MODE AUDIT: nothing below is enforced. Seccomp logs what it would deny and hands %s to the supervisor, which records each and lets it continue; Landlock is not applied (the path and port rules below are what observed accesses are compared with); the firewall logs and accepts what it would drop; the component runs with the capabilities %s, and those it uses beyond the ones declared are inferred from its calls. Every would-be denial is logged with enforced false.",
			list(c.Audit.Observe), strings.Join(c.Audit.Capabilities.Bounding, ", "))
	}
	e.line(1, "Runs %s as %s, in %s, with hostname %q.", strings.Join(quoteAll(pr.Args), " "), pr.Identity(), pr.Cwd, pr.Hostname)
	if len(pr.Groups) > 0 {
		e.line(1, "Supplementary groups: %s (names resolve in the sandbox's /etc/group when it starts).", strings.Join(pr.Groups, ", "))
	}
	if len(pr.EnvFromHost) > 0 || pr.EnvFile != "" {
		e.line(1, "Environment read when it starts: %s; run.env wins over env_file, env_file over env_from_host.", envSources(pr))
	}
	if len(pr.Env) == 0 {
		e.line(1, "Environment: empty; nothing of confine's own is passed.")
	} else {
		e.line(1, "Environment: %s, and nothing else.", strings.Join(pr.Env, " "))
	}
	e.line(1, "New namespaces: %s. no_new_privs is set, so setuid binaries grant nothing.", strings.Join(c.Namespaces, ", "))
	if pr.DenyExec {
		e.line(1, "confine exec into it is refused (run.exec: false).")
	} else {
		e.line(1, "confine exec may run a command inside it, under this same enforcement and no more (run.exec: false refuses it).")
	}
	e.filesystem(c)
	e.network(c)
	e.channels(c)
	e.syscalls(c)
	e.capabilities(c)
	e.limits(c)
	var needs []string
	for _, r := range c.Requires {
		n := r.Mechanism
		if r.MinABI > 0 {
			n = fmt.Sprintf("%s ABI %d", n, r.MinABI)
		}
		needs = append(needs, fmt.Sprintf("%s (%s)", n, r.Why))
	}
	e.line(1, "Needs from the kernel: %s.", strings.Join(needs, "; "))
	if len(c.BestEffort) > 0 {
		e.line(1, "Best effort: runs without %s if the kernel lacks it (a finding in the report).", strings.Join(c.BestEffort, ", "))
	} else {
		e.line(1, "Fails closed: refuses to run if the kernel lacks any of these.")
	}
}

func (e *writer) filesystem(c *plan.Component) {
	if c.Image != nil {
		e.imageFilesystem(c)
		return
	}
	if c.Process.Rootfs != "" {
		e.line(1, "Filesystem: root is %s, read-only; Landlock limits access to the paths below.", c.Process.Rootfs)
	} else {
		e.line(1, "Filesystem: root is an empty tmpfs; only the paths below exist.")
	}
	var ro, rw, tmp, binds []string
	for _, m := range c.Mounts {
		switch m.Why {
		case "filesystem.bind":
			binds = append(binds, bindLine(m))
		case "filesystem.read":
			if m.Idmap {
				ro = append(ro, m.Target+" (idmapped: host owners kept)")
			} else {
				ro = append(ro, m.Target)
			}
		case "filesystem.write":
			rw = append(rw, m.Target)
		case "filesystem.tmpfs":
			tmp = append(tmp, m.Target)
		}
	}
	if c.Process.Rootfs != "" {
		ro = nil
		for _, r := range c.Landlock.Paths {
			if !slices.Contains(r.Access, "write_file") {
				ro = append(ro, r.Path)
			}
		}
	}
	e.line(2, "read-only: %s", list(ro))
	e.line(2, "writable: %s", list(rw))
	e.line(2, "private tmpfs: %s", list(tmp))
	if len(binds) > 0 {
		e.line(2, "bound from the host: %s", strings.Join(binds, "; "))
	}
	e.line(2, "also: /proc (own pid namespace; %d entries masked), a minimal /dev, no /sys", len(c.MaskedPaths))
}

func (e *writer) network(c *plan.Component) {
	n := c.Net
	if n.Address == "" {
		e.line(1, "Network: its own namespace with loopback only.")
	} else {
		e.line(1, "Network: address %s on the stack bridge.", n.Address)
	}
	var in, out []string
	for _, f := range n.Firewall.Flows {
		switch {
		case f.Set == "ingress" && strings.HasSuffix(f.Why, plan.HealthWhy):
			in = append(in, fmt.Sprintf("%s from the bridge address %s (%s)", plan.PortString(f.Proto, f.First, f.Last), strings.TrimSuffix(f.Src, "/32"), plan.HealthWhy))
		case f.Set == "ingress":
			in = append(in, fmt.Sprintf("%s from %s", plan.PortString(f.Proto, f.First, f.Last), e.peer(f.Src)))
		case f.Set == "egress":
			out = append(out, fmt.Sprintf("%s on %s", e.peer(f.Dst), plan.PortString(f.Proto, f.First, f.Last)))
		}
	}
	for _, f := range n.Gateway { // a lone run's `host`: its uplink's gateway
		if f.Set == "ingress" {
			in = append(in, fmt.Sprintf("%s from host", plan.PortString(f.Proto, f.First, f.Last)))
		} else {
			out = append(out, fmt.Sprintf("host on %s", plan.PortString(f.Proto, f.First, f.Last)))
		}
	}
	e.line(2, "accepts: %s", list(in))
	e.line(2, "may connect to: %s", list(out))
	if len(n.Names) > 0 {
		var names []string
		for _, nf := range n.Names {
			names = append(names, fmt.Sprintf("%s on %s", nf.Name, plan.PortString(nf.Proto, nf.First, nf.Last)))
		}
		e.line(2, "may resolve, through confine's resolver, and connect to: %s (the public IPv4 addresses answered, for their TTL)", list(names))
	}
	for _, u := range n.Unresolved {
		e.line(2, "not in effect on its own: %s (a component: reachable only in a stack)", u)
	}
	e.line(2, "everything else is dropped and logged to NFLOG group %d", n.Firewall.LogGroup)
	ll := c.Landlock
	e.line(2, "Landlock also limits TCP bind to %s and connect to %s", portList(ll.BindTCP, ll.HandledNet, "bind_tcp"), portList(ll.ConnectTCP, ll.HandledNet, "connect_tcp"))
	for _, note := range ll.Notes {
		e.line(2, "note: %s", note)
	}
}

func (e *writer) syscalls(c *plan.Component) {
	s := c.Seccomp
	var plain, cond, errno []string
	for _, r := range s.Rules {
		switch {
		case r.Action == "errno" && len(r.Args) > 0:
			errno = append(errno, fmt.Sprintf("%s when %s → refused with errno %d", r.Syscalls[0], args(r.Args), r.Errno))
		case r.Action == "errno":
			errno = append(errno, fmt.Sprintf("%s → refused with errno %d", strings.Join(r.Syscalls, ", "), r.Errno))
		case len(binding(r.Args)) == 0:
			plain = append(plain, r.Syscalls...) // "argN >= 0" only: allowed outright but for the refusals below
		default:
			cond = append(cond, fmt.Sprintf("%s when %s", r.Syscalls[0], args(binding(r.Args))))
		}
	}
	action := s.DefaultAction
	if action == "errno" {
		action = fmt.Sprintf("fails with errno %d (EPERM)", s.DefaultErrno)
	}
	e.line(1, "Syscalls (%s): %d allowed outright, %d only with matching arguments; any other call %s.", s.Arch, len(plain), len(cond), action)
	for _, c := range cond {
		e.line(2, "%s", c)
	}
	for _, x := range errno {
		e.line(2, "%s", x)
	}
}

func (e *writer) capabilities(c *plan.Component) {
	caps := c.Capabilities
	if len(caps.Bounding) == 0 {
		e.line(1, "Capabilities: none; every capability is dropped from all sets.")
		return
	}
	how := "effective"
	if len(caps.Ambient) > 0 {
		how = "ambient, kept across exec as a non-root user"
	}
	e.line(1, "Capabilities: %s (%s); all others are dropped, bounding set included.", strings.Join(caps.Bounding, ", "), how)
}

func (e *writer) limits(c *plan.Component) {
	var l []string
	g := c.Cgroup
	if g.MemoryMax > 0 {
		l = append(l, fmt.Sprintf("memory %d MiB (no swap)", g.MemoryMax>>20))
	}
	if g.PidsMax > 0 {
		l = append(l, fmt.Sprintf("%d processes", g.PidsMax))
	}
	if g.CPUPeriod > 0 {
		l = append(l, fmt.Sprintf("%.2f CPUs", float64(g.CPUQuota)/float64(g.CPUPeriod)))
	}
	for _, r := range c.Rlimits {
		switch r.Type {
		case "RLIMIT_NOFILE":
			l = append(l, fmt.Sprintf("%d open files", r.Hard))
		case "RLIMIT_CORE":
			l = append(l, "no core dumps")
		}
	}
	e.line(1, "Limits: %s.", strings.Join(l, ", "))
}

// binding is an allow's conditions without the "argN >= 0" compile adds to order it after
// the denies (policy's altSet.widen), which holds for every value.
func binding(a []plan.SeccompArg) []plan.SeccompArg {
	var out []plan.SeccompArg
	for _, c := range a {
		if c.Op != "ge" || c.Value != 0 {
			out = append(out, c)
		}
	}
	return out
}

func args(a []plan.SeccompArg) string {
	var parts []string
	for _, c := range a {
		if c.Op == "masked_eq" {
			parts = append(parts, fmt.Sprintf("arg%d & %#x == %#x", c.Index, c.Mask, c.Value))
			continue
		}
		op := map[string]string{"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[c.Op]
		parts = append(parts, fmt.Sprintf("arg%d %s %#x", c.Index, op, c.Value))
	}
	return strings.Join(parts, " and ")
}

func portList(p []uint16, handled []string, right string) string {
	if !slices.Contains(handled, right) {
		return "any port (not restricted by Landlock)"
	}
	if len(p) == 0 {
		return "no port"
	}
	var s []string
	for _, x := range p {
		s = append(s, fmt.Sprint(x))
	}
	return "ports " + strings.Join(s, ", ")
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	s = append([]string{}, s...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			out[i] = fmt.Sprintf("%q", a)
		}
	}
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// bindLine describes one filesystem.bind: where it appears, from where, and how.
func bindLine(m plan.Mount) string {
	mode := "read-write"
	if slices.Contains(m.Options, "ro") {
		mode = "read-only"
	}
	if m.Idmap {
		mode += ", idmapped"
	}
	return fmt.Sprintf("%s ← %s (%s)", m.Target, m.Source, mode)
}

// envSources names where variables come from at start: host variables and an env file.
func envSources(pr plan.Process) string {
	var parts []string
	if len(pr.EnvFromHost) > 0 {
		parts = append(parts, "from the supervisor's environment "+strings.Join(pr.EnvFromHost, ", "))
	}
	if pr.EnvFile != "" {
		parts = append(parts, "the env_file "+pr.EnvFile+" (read by the supervisor, with its privileges)")
	}
	return strings.Join(parts, "; ")
}
