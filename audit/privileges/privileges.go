// Package privileges reads off a Plan what each component may do once it is applied
// (Privileges) and who may talk to whom (Matrix). Attribution, reports and diffs are built
// on it; it imports no other audit package.
package privileges

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Privileges is what one component may do once its Plan is applied: the effective result
// of its declarations, profiles and confine's built-ins, read off the Plan alone. Reports
// and diffs are built on it.
type Privileges struct {
	Component  string `json:"component"`
	Source     string `json:"source"`
	SourceHash string `json:"source_hash"`
	UID        uint32 `json:"uid"`
	GID        uint32 `json:"gid"`
	// User and Group are run.user's names, which the sandbox resolves when it starts;
	// UID (and GID) are 0 then. Identity says it in words.
	User       string   `json:"user,omitempty"`
	Group      string   `json:"group,omitempty"`
	Identity   string   `json:"identity"`
	RootInside bool     `json:"-"` // known to run as uid or gid 0 inside
	Rootfs     string   `json:"rootfs,omitempty"`
	Namespaces []string `json:"namespaces"`
	// Capabilities the process holds or can raise (permitted ∪ effective ∪ ambient), and
	// the bounding set, without the CAP_ prefix.
	Capabilities []string `json:"capabilities"`
	Bounding     []string `json:"bounding"`
	Syscalls     Syscalls `json:"syscalls"`
	// Writable are the paths with a Landlock right to change files beneath them; Readable
	// those with read rights only; Executable those with execute. Each names its origin.
	Writable   []PathGrant `json:"writable"`
	Readable   []PathGrant `json:"readable"`
	Executable []string    `json:"executable"`
	// Listen are the served ports, each with who may call it.
	Listen []Listener `json:"listen"`
	// Reaches are the flows this component may open: to peers of the stack or to outside
	// addresses (Peer empty, Outside true).
	Reaches   []Reach   `json:"reaches"`
	Resources Resources `json:"resources"`
	// BestEffort names mechanisms that may be skipped when the kernel lacks them.
	BestEffort []string `json:"best_effort"`
	// Notes are restrictions the compiler left out and why.
	Notes []string `json:"notes,omitempty"`
	// ExecRefused is run.exec: false: `confine exec` into the component is refused.
	ExecRefused bool `json:"exec_refused,omitempty"`
}

// Syscalls summarises the seccomp filter against the baseline (the default profile).
type Syscalls struct {
	// OnViolation is what a syscall outside the allowlist gets: errno, kill_process or log.
	OnViolation string `json:"on_violation"`
	// Allowed are the syscalls allowed under some arguments; Conditional those of them
	// allowed only under argument conditions.
	Allowed     []string `json:"allowed"`
	Conditional []string `json:"conditional,omitempty"`
	// BeyondBaseline are allowed here but not by the baseline profile; WithinBaseline
	// counts the allowed that the baseline allows too.
	BeyondBaseline []string `json:"beyond_baseline"`
	WithinBaseline int      `json:"within_baseline"`
	// Denied are syscalls an explicit rule takes away, with the rule.
	Denied []plan.SeccompDeny `json:"denied,omitempty"`
}

// PathGrant is a path and the Landlock rights granted beneath it.
type PathGrant struct {
	Path   string   `json:"path"`
	Access []string `json:"access"`
	Why    string   `json:"why,omitempty"`
}

// Listener is a served port and its permitted callers.
type Listener struct {
	Port string `json:"port"` // "9000/tcp", "5000-5010/udp"
	// From are the callers allowed through the firewall: component names, "host" for a
	// published port, or an address for a caller outside the stack.
	From []Caller `json:"from"`
}

// Caller is one allowed caller of a port and the declaration that allows it.
type Caller struct {
	Name string `json:"name"`
	Why  string `json:"why"`
}

// Reach is one flow the component may open.
type Reach struct {
	Peer    string `json:"peer,omitempty"` // component name when the destination is one
	Dst     string `json:"dst"`            // CIDR
	Port    string `json:"port"`           // "5432/tcp"
	Outside bool   `json:"outside"`
	Why     string `json:"why"`
}

// Resources are the limits; zero means unlimited.
type Resources struct {
	MemoryMax int64   `json:"memory_max"`
	PidsMax   int64   `json:"pids_max"`
	CPU       float64 `json:"cpu"` // CPUs
	Nofile    uint64  `json:"nofile"`
}

// writeRights are the Landlock rights that change the filesystem.
var WriteRights = []string{"write_file", "remove_dir", "remove_file", "make_dir", "make_reg", "make_sock", "make_fifo", "make_sym", "make_char", "make_block", "refer", "truncate"}

// ComponentPrivileges reads c's privileges off the Plan. names maps stack addresses to
// component names (see Addresses); baseline is the set of syscalls the default profile
// allows.
func ComponentPrivileges(c *plan.Component, names map[string]string, baseline map[string]bool) Privileges {
	p := Privileges{
		Component: c.Name, Source: c.Source, SourceHash: c.SourceHash,
		UID: c.Process.UID, GID: c.Process.GID, Rootfs: c.Process.Rootfs,
		User: c.Process.User, Group: c.Process.Group, Identity: c.Process.Identity(), RootInside: c.Process.RootInside(),
		Namespaces: c.Namespaces,
		Bounding:   OrEmpty(c.Capabilities.Bounding),
		BestEffort: OrEmpty(c.BestEffort),
		Notes:      c.Landlock.Notes, ExecRefused: c.Process.DenyExec,
	}
	caps := append(append(append([]string{}, c.Capabilities.Permitted...), c.Capabilities.Effective...), c.Capabilities.Ambient...)
	p.Capabilities = UniqueSorted(caps)
	p.Syscalls = syscallPrivileges(&c.Seccomp, baseline)
	for _, r := range c.Landlock.Paths {
		g := PathGrant{Path: r.Path, Access: r.Access, Why: r.Why}
		switch {
		case HasAny(r.Access, WriteRights):
			p.Writable = append(p.Writable, g)
		case HasAny(r.Access, []string{"read_file", "read_dir"}):
			p.Readable = append(p.Readable, g)
		}
		if slices.Contains(r.Access, "execute") {
			p.Executable = append(p.Executable, r.Path)
		}
	}
	p.Writable, p.Readable, p.Executable = OrEmpty(p.Writable), OrEmpty(p.Readable), OrEmpty(p.Executable)
	p.Listen, p.Reaches = flows(c, names)
	p.Resources = Resources{MemoryMax: c.Cgroup.MemoryMax, PidsMax: c.Cgroup.PidsMax}
	if c.Cgroup.CPUPeriod > 0 {
		p.Resources.CPU = float64(c.Cgroup.CPUQuota) / float64(c.Cgroup.CPUPeriod)
	}
	for _, rl := range c.Rlimits {
		if rl.Type == "RLIMIT_NOFILE" {
			p.Resources.Nofile = rl.Hard
		}
	}
	return p
}

func syscallPrivileges(s *plan.Seccomp, baseline map[string]bool) Syscalls {
	out := Syscalls{OnViolation: s.DefaultAction}
	// One line per syscall and rule: a rule with several argument conditions compiles
	// to one deny per condition.
	for _, d := range s.Denies {
		if !slices.Contains(out.Denied, d) {
			out.Denied = append(out.Denied, d)
		}
	}
	allowed := map[string]bool{}
	conditional := map[string]bool{}
	unconditional := map[string]bool{}
	for _, r := range s.Rules {
		if r.Action != "allow" {
			continue
		}
		for _, name := range r.Syscalls {
			allowed[name] = true
			// "argument N >= 0" holds for every value: the compiler's way to keep an
			// unconditional allow beside argument denies (on argument 0, and on a deny's
			// argument where the allow's conditions end).
			if !slices.ContainsFunc(r.Args, func(a plan.SeccompArg) bool { return a.Op != "ge" || a.Value != 0 }) {
				unconditional[name] = true
			} else {
				conditional[name] = true
			}
		}
	}
	for name := range allowed {
		out.Allowed = append(out.Allowed, name)
		if conditional[name] && !unconditional[name] {
			out.Conditional = append(out.Conditional, name)
		}
		if baseline[name] {
			out.WithinBaseline++
		} else {
			out.BeyondBaseline = append(out.BeyondBaseline, name)
		}
	}
	sort.Strings(out.Allowed)
	sort.Strings(out.Conditional)
	sort.Strings(out.BeyondBaseline)
	out.Allowed, out.BeyondBaseline = OrEmpty(out.Allowed), OrEmpty(out.BeyondBaseline)
	return out
}

// flows reads the component's firewall sets: ingress elements are its listeners' callers,
// egress elements the flows it may open.
func flows(c *plan.Component, names map[string]string) ([]Listener, []Reach) {
	listen := []Listener{}
	byPort := map[string]int{}
	for _, l := range c.Net.Listen {
		port := plan.PortString(l.Proto, l.First, l.Last)
		byPort[port] = len(listen)
		listen = append(listen, Listener{Port: port, From: []Caller{}})
	}
	reaches := []Reach{}
	for _, f := range c.Net.Firewall.Flows {
		port := plan.PortString(f.Proto, f.First, f.Last)
		switch f.Set {
		case "ingress":
			i, ok := byPort[port]
			if !ok {
				byPort[port] = len(listen)
				i = len(listen)
				listen = append(listen, Listener{Port: port, From: []Caller{}})
			}
			listen[i].From = append(listen[i].From, Caller{Name: CallerName(f, names), Why: f.Why})
		case "egress":
			r := Reach{Dst: f.Dst, Port: port, Why: f.Why}
			if r.Peer = names[HostOf(f.Dst)]; r.Peer == "" {
				r.Outside = true
			}
			reaches = append(reaches, r)
		}
	}
	for _, f := range c.Net.Gateway { // a lone run's `host`: its uplink's gateway
		port := plan.PortString(f.Proto, f.First, f.Last)
		switch {
		case f.Set == "ingress":
			i, ok := byPort[port]
			if !ok {
				byPort[port] = len(listen)
				i = len(listen)
				listen = append(listen, Listener{Port: port, From: []Caller{}})
			}
			listen[i].From = append(listen[i].From, Caller{Name: "host", Why: f.Why})
		case f.Why != plan.ResolverWhy:
			reaches = append(reaches, Reach{Dst: "host", Peer: "host", Port: port, Why: f.Why})
		}
	}
	for _, n := range c.Net.Names { // a DNS name: whatever it answers, for its TTL
		reaches = append(reaches, Reach{Dst: n.Name, Port: plan.PortString(n.Proto, n.First, n.Last), Why: n.Why, Outside: true})
	}
	return listen, reaches
}

func CallerName(f plan.Flow, names map[string]string) string {
	if n := names[HostOf(f.Src)]; n != "" {
		return n
	}
	return f.Src
}

// Addresses maps each stack address (the components' and the bridge's) to a name; the
// bridge is "host", since published ports and health checks arrive from it.
func Addresses(p *plan.Plan) map[string]string {
	names := map[string]string{}
	if p.Network.BridgeAddress != "" {
		names[p.Network.BridgeAddress] = "host"
	}
	for _, c := range p.Components {
		if c.Net.Address != "" {
			names[c.Net.Address] = c.Name
		}
	}
	return names
}

// hostOf returns the address of a single-address CIDR ("10.88.0.4/32"), or "".
func HostOf(cidr string) string {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || pfx.Bits() != pfx.Addr().BitLen() {
		return ""
	}
	return pfx.Addr().String()
}

// Edge is one line of the communication matrix: From may open Ports to To.
type Edge struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Ports []string `json:"ports"`
	Why   []string `json:"why"`
}

// Matrix is the stack's communication matrix: who may call whom on which ports. Nodes
// are the components in stack order, then "host" when a port is published and "outside"
// when a component may reach addresses outside the stack or be called from them.
type Matrix struct {
	Nodes []string `json:"nodes"`
	Edges []Edge   `json:"edges"`
}

// CommunicationMatrix gathers every component's flows into one matrix.
func CommunicationMatrix(p *plan.Plan, privs []Privileges) Matrix {
	m := Matrix{Edges: []Edge{}}
	for _, c := range p.Components {
		m.Nodes = append(m.Nodes, c.Name)
	}
	index := map[[2]string]int{}
	add := func(from, to, port, why string) {
		k := [2]string{from, to}
		i, ok := index[k]
		if !ok {
			i = len(m.Edges)
			index[k] = i
			m.Edges = append(m.Edges, Edge{From: from, To: to})
		}
		if !slices.Contains(m.Edges[i].Ports, port) {
			m.Edges[i].Ports = append(m.Edges[i].Ports, port)
		}
		m.Edges[i].Why = append(m.Edges[i].Why, why)
	}
	var host, outside bool
	components := map[string]bool{}
	for _, c := range p.Components {
		components[c.Name] = true
	}
	for _, pr := range privs {
		for _, r := range pr.Reaches {
			to := r.Peer
			if r.Outside {
				to, outside = "outside", true
			}
			add(pr.Component, to, r.Port, r.Why)
		}
		for _, l := range pr.Listen {
			for _, from := range l.From {
				switch {
				case from.Name == "host":
					host = true
					add("host", pr.Component, l.Port, from.Why)
				case !components[from.Name]:
					// An address or CIDR outside the stack may call this port.
					outside = true
					add("outside", pr.Component, l.Port, from.Why)
				}
			}
		}
	}
	channelEdges(p, add)
	if host {
		m.Nodes = append(m.Nodes, "host")
	}
	if outside {
		m.Nodes = append(m.Nodes, "outside")
	}
	return m
}

// channelEdges adds the filesystem channels: a client to the socket's server, and a
// component that writes a shared path to each it shares it with.
func channelEdges(p *plan.Plan, add func(from, to, port, why string)) {
	for _, c := range p.Components {
		for _, ch := range c.Channels {
			switch ch.Role {
			case "connect":
				add(c.Name, ch.Peer, "unix "+ch.Path, ch.Why)
			case "write":
				add(c.Name, ch.Peer, "share "+ch.Path, ch.Why)
			}
		}
	}
}

func HasAny(have, want []string) bool {
	return slices.ContainsFunc(have, func(s string) bool { return slices.Contains(want, s) })
}

func UniqueSorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return OrEmpty(slices.Compact(s))
}

// orEmpty keeps JSON output stable: an empty list, never null.
func OrEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
