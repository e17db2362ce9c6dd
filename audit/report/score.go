package report

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Exposure is a component's exposure score, in the spirit of `systemd-analyze security`:
// a fixed list of factors, each with a weight, each exposed or not. The score is
//
//	score = 10 × (sum of the weights of the exposed factors) / (sum of all weights)
//
// rounded to one decimal: 0 when no factor applies (minimal exposure), 10 when all do.
// Every factor is a yes/no question whose answer can only turn to yes as a Plan grants
// more, so more privilege never lowers the score. The weights are the same for every
// component, so scores compare across components and stacks.
type Exposure struct {
	Score float64 `json:"score"`
	// Level names the score's band: minimal (< 1), low (< 3), medium (< 5), high (< 7),
	// severe (≥ 7).
	Level string `json:"level"`
	// ExposedWeight and TotalWeight are the sums the score divides.
	ExposedWeight int      `json:"exposed_weight"`
	TotalWeight   int      `json:"total_weight"`
	Factors       []Factor `json:"factors"`
}

// Factor is one question the score asks of a component.
type Factor struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	// Exposed is true when the factor applies: the component has this exposure.
	Exposed bool `json:"exposed"`
	// Explanation says in one line why it applies, or why not.
	Explanation string `json:"explanation"`
}

// subject is one component as the score and the findings look at it.
type subject struct {
	c  *plan.Component
	pr *privileges.Privileges
	// published are the stack's publish entries that reach this component.
	published []plan.Publish
	// components names the stack's components, to tell a peer from an outside caller.
	components map[string]bool
}

// factorRule answers one factor: whether it applies, and a one-line explanation.
type factorRule struct {
	id, name string
	weight   int
	check    func(s *subject) (bool, string)
}

// factorRules is the score's formula; docs/audit-report.md lists the same table.
var factorRules = []factorRule{
	{"capabilities", "Holds capabilities", 2, func(s *subject) (bool, string) {
		if len(s.pr.Capabilities) == 0 {
			return false, "holds no capability"
		}
		return true, "holds " + joinCaps(s.pr.Capabilities)
	}},
	{"dangerous_capabilities", "Holds a dangerous capability", 4, func(s *subject) (bool, string) {
		var bad []string
		for _, c := range s.pr.Capabilities {
			if r := capabilityRank(c); r == Critical || r == High {
				bad = append(bad, c)
			}
		}
		if len(bad) == 0 {
			return false, "no capability ranked high or critical"
		}
		return true, "holds " + joinCaps(bad)
	}},
	{"root_inside", "Runs as root inside", 2, func(s *subject) (bool, string) {
		if !s.pr.RootInside {
			return false, "runs as " + s.pr.Identity
		}
		return true, "runs as " + s.pr.Identity + " inside its user namespace"
	}},
	{"new_privileges", "May gain privileges on exec", 2, func(s *subject) (bool, string) {
		if s.c.Process.NoNewPrivs {
			return false, "no_new_privs is set: setuid and file capabilities grant nothing"
		}
		return true, "no_new_privs is not set: a setuid binary or file capability grants privileges"
	}},
	{"shared_namespaces", "Shares a namespace with the host", 3, func(s *subject) (bool, string) {
		if missing := missingNamespaces(s.c.Namespaces); len(missing) > 0 {
			return true, "does not unshare " + strings.Join(missing, ", ")
		}
		return false, "all seven namespaces are its own"
	}},
	{"seccomp_log", "Seccomp only logs", 4, func(s *subject) (bool, string) {
		if s.c.Seccomp.DefaultAction == "log" {
			return true, "on_violation log: undeclared syscalls are allowed and only logged"
		}
		return false, "undeclared syscalls get " + s.c.Seccomp.DefaultAction
	}},
	{"syscalls_beyond_baseline", "Syscalls beyond the default profile", 1, func(s *subject) (bool, string) {
		if n := len(s.pr.Syscalls.BeyondBaseline); n > 0 {
			return true, fmt.Sprintf("%d beyond the default profile: %s", n, shortList(s.pr.Syscalls.BeyondBaseline, 6))
		}
		return false, "allows nothing the default profile does not"
	}},
	{"risky_syscalls", "Risky syscalls allowed", 3, func(s *subject) (bool, string) {
		if risky := riskySyscalls(s.pr.Syscalls.Allowed); len(risky) > 0 {
			return true, "allows " + shortList(risky, 6)
		}
		return false, "none of io_uring, bpf, ptrace, mount, unshare, keyctl, userfaultfd, perf_event_open, … is allowed"
	}},
	{"writable_system_path", "System paths writable", 3, func(s *subject) (bool, string) {
		var hit []string
		for _, g := range s.pr.Writable {
			if systemPathSeverity(g.Path) != "" {
				hit = append(hit, g.Path)
			}
		}
		if len(hit) == 0 {
			return false, "nothing under /, /etc, /usr, /bin, /sbin, /lib, /lib64 or /boot is writable"
		}
		return true, "may write " + strings.Join(hit, ", ")
	}},
	{"persistent_writes", "Writes that outlive the sandbox", 1, func(s *subject) (bool, string) {
		if w := persistentWrites(s.c); len(w) > 0 {
			return true, "writable bind mounts: " + strings.Join(w, ", ")
		}
		return false, "every writable path is a private tmpfs"
	}},
	{"write_execute", "Write and execute on one path", 2, func(s *subject) (bool, string) {
		var hit []string
		for _, g := range s.pr.Writable {
			if slices.Contains(g.Access, "execute") && !builtin(g.Why) {
				hit = append(hit, g.Path)
			}
		}
		if len(hit) == 0 {
			return false, "no declared path is both writable and executable"
		}
		return true, "may write and then execute files in " + strings.Join(hit, ", ")
	}},
	{"published", "Published to the host", 1, func(s *subject) (bool, string) {
		if len(s.published) == 0 {
			return false, "no port is published"
		}
		return true, "published: " + publishList(s.published)
	}},
	{"published_beyond_loopback", "Published beyond loopback", 2, func(s *subject) (bool, string) {
		var wide []plan.Publish
		for _, p := range s.published {
			if !isLoopback(p.HostAddress) {
				wide = append(wide, p)
			}
		}
		if len(wide) == 0 {
			return false, "published only on the host's loopback, if at all"
		}
		return true, "reachable from the host's network: " + publishList(wide)
	}},
	{"outside_callers", "Callers from outside the stack", 2, func(s *subject) (bool, string) {
		if c := outsideCallers(s); len(c) > 0 {
			return true, "accepts " + strings.Join(c, ", ")
		}
		return false, "only stack components (and published ports) may call it"
	}},
	{"outside_reach", "Reaches outside the stack", 2, func(s *subject) (bool, string) {
		var dst []string
		for _, r := range s.pr.Reaches {
			if r.Outside {
				dst = append(dst, r.Dst+" "+r.Port)
			}
		}
		if len(dst) == 0 {
			return false, "connects only to stack components"
		}
		return true, "may connect to " + strings.Join(dst, ", ")
	}},
	{"wide_reach", "Reaches a wide range of addresses", 3, func(s *subject) (bool, string) {
		var dst []string
		for _, r := range s.pr.Reaches {
			if bits, ok := prefixBits(r.Dst); ok && bits <= wideBits {
				dst = append(dst, r.Dst+" "+r.Port)
			}
		}
		if len(dst) == 0 {
			return false, fmt.Sprintf("no destination as wide as a /%d", wideBits)
		}
		return true, "may connect to " + strings.Join(dst, ", ")
	}},
	{"best_effort_landlock", "Landlock may be skipped", 3, bestEffortFactor("landlock", "the filesystem and TCP port rules")},
	{"best_effort_nftables", "Firewall may be skipped", 3, bestEffortFactor("nftables", "the component's own firewall")},
	{"best_effort_cgroups", "Limits may be skipped", 1, bestEffortFactor("cgroups", "memory, pids and cpu limits")},
	{"no_memory_limit", "No memory limit", 1, func(s *subject) (bool, string) {
		if s.pr.Resources.MemoryMax == 0 {
			return true, "memory is not limited"
		}
		return false, "memory limited to " + sizeString(s.pr.Resources.MemoryMax)
	}},
	{"no_pids_limit", "No process limit", 1, func(s *subject) (bool, string) {
		if s.pr.Resources.PidsMax == 0 {
			return true, "processes and threads are not limited"
		}
		return false, fmt.Sprintf("at most %d processes and threads", s.pr.Resources.PidsMax)
	}},
	{"no_cpu_limit", "No CPU limit", 1, func(s *subject) (bool, string) {
		if s.pr.Resources.CPU == 0 {
			return true, "CPU time is not limited"
		}
		return false, fmt.Sprintf("limited to %.2f CPUs", s.pr.Resources.CPU)
	}},
}

// wideBits is the prefix length at or below which a CIDR counts as wide (/16: 65,536
// addresses).
const wideBits = 16

func bestEffortFactor(mechanism, covers string) func(*subject) (bool, string) {
	return func(s *subject) (bool, string) {
		if slices.Contains(s.pr.BestEffort, mechanism) {
			return true, "best_effort lists " + mechanism + ": it runs without " + covers + " where the kernel lacks them"
		}
		return false, "refuses to run without " + covers
	}
}

// Score answers every factor for s.
func score(s *subject) Exposure {
	e := Exposure{Factors: make([]Factor, 0, len(factorRules))}
	s = auditSubject(s)
	for _, r := range factorRules {
		ok, why := r.check(s)
		ok, why = auditFactor(s, r.id, ok, why)
		e.Factors = append(e.Factors, Factor{ID: r.id, Name: r.name, Weight: r.weight, Exposed: ok, Explanation: why})
		e.TotalWeight += r.weight
		if ok {
			e.ExposedWeight += r.weight
		}
	}
	e.Score = math.Round(100*float64(e.ExposedWeight)/float64(e.TotalWeight)) / 10
	e.Level = scoreLevel(e.Score)
	return e
}

func scoreLevel(score float64) string {
	switch {
	case score < 1:
		return "minimal"
	case score < 3:
		return "low"
	case score < 5:
		return "medium"
	case score < 7:
		return "high"
	}
	return "severe"
}

// allNamespaces are the namespaces every component is expected to have of its own.
var allNamespaces = []string{"cgroup", "ipc", "mount", "net", "pid", "user", "uts"}

func missingNamespaces(have []string) []string {
	var missing []string
	for _, n := range allNamespaces {
		if !slices.Contains(have, n) {
			missing = append(missing, n)
		}
	}
	return missing
}

// persistentWrites are the targets of writable bind mounts: what the component writes
// there stays after it is gone.
func persistentWrites(c *plan.Component) []string {
	var out []string
	for _, m := range c.Mounts {
		if m.Type == "bind" && !slices.Contains(m.Options, "ro") && !strings.HasPrefix(m.Target, "/dev/") {
			out = append(out, m.Target)
		}
	}
	return out
}

// outsideCallers are the callers of any listener that are neither components nor the host.
func outsideCallers(s *subject) []string {
	var out []string
	for _, l := range s.pr.Listen {
		for _, c := range l.From {
			if c.Name != "host" && !s.components[c.Name] {
				out = append(out, c.Name+" on "+l.Port)
			}
		}
	}
	return out
}

// builtin reports whether a grant is confine's own rather than a declaration's.
func builtin(why string) bool { return strings.HasPrefix(why, "built-in") }

func isLoopback(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsLoopback()
}

// prefixBits is a CIDR's prefix length; a bare address counts as a host prefix.
func prefixBits(cidr string) (int, bool) {
	if p, err := netip.ParsePrefix(cidr); err == nil {
		return p.Bits(), true
	}
	if a, err := netip.ParseAddr(cidr); err == nil {
		return a.BitLen(), true
	}
	return 0, false
}

func publishList(ps []plan.Publish) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s:%d → %d/%s", p.HostAddress, p.HostPort, p.Port, p.Proto)
	}
	return strings.Join(out, ", ")
}

func joinCaps(caps []string) string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = "CAP_" + c
	}
	return strings.Join(out, ", ")
}

// shortList joins up to n items and says how many more there are.
func shortList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// sizeString writes a byte count in the largest binary unit that divides it.
func sizeString(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
