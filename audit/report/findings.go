package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Severity ranks a finding: critical, high, medium, low or info.
type Severity string

// Severities, most severe first.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Info     Severity = "info"
)

// Severities lists them most severe first.
var Severities = []Severity{Critical, High, Medium, Low, Info}

// rank orders severities: 0 for critical, 4 for info.
func (s Severity) rank() int {
	if i := slices.Index(Severities, s); i >= 0 {
		return i
	}
	return len(Severities)
}

// Finding is one thing a reviewer should look at: what a component is granted that
// widens its exposure, and the declaration responsible.
type Finding struct {
	// Rule names the check that raised it (see findingRules and docs/audit-report.md).
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	Component string   `json:"component"`
	// Title says what is granted, in one line; Detail why it matters.
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// Declaration is the responsible declaration: "file:line:col field value" where the
	// Plan keeps a position (paths, flows, explicit denies), else "file field".
	Declaration string `json:"declaration"`
}

// findingRules run in this order over every component; each returns zero or more findings.
var findingRules = []struct {
	id    string
	check func(s *subject) []Finding
}{
	{"capability", findCapabilities},
	{"root_inside", findRootInside},
	{"image", findImage},
	{"new_privileges", findNewPrivileges},
	{"shared_namespace", findSharedNamespaces},
	{"audit_mode", findAuditMode},
	{"seccomp_log", findSeccompLog},
	{"risky_syscall", findRiskySyscalls},
	{"beyond_baseline", findBeyondBaseline},
	{"writable_system_path", findWritableSystemPaths},
	{"write_execute", findWriteExecute},
	{"connect_outside", findConnectOutside},
	{"listen_outside", findListenOutside},
	{"published", findPublished},
	{"best_effort", findBestEffort},
	{"no_limit", findNoLimits},
	{"landlock_note", findLandlockNotes},
	{"udp_nftables_only", findUDP},
	{"unresolved", findUnresolved},
}

// componentFindings runs every rule over s, most severe first.
func componentFindings(s *subject) []Finding {
	var out []Finding
	for _, r := range findingRules {
		for _, f := range r.check(s) {
			f.Rule, f.Component = r.id, s.c.Name
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity.rank() < out[j].Severity.rank() })
	return out
}

// field names a declaration by file and field when the Plan keeps no position for it.
func field(s *subject, name string) string { return s.c.Source + " " + name }

// capabilityRanks rank capabilities by what they give a process inside its own user
// namespace and, through kernel bugs, beyond it. Unlisted capabilities rank medium.
var capabilityRanks = map[string]Severity{
	"SYS_ADMIN": Critical, "SYS_MODULE": Critical, "SYS_RAWIO": Critical, "SYS_PTRACE": Critical,
	"BPF": Critical, "DAC_READ_SEARCH": Critical, "MAC_ADMIN": Critical, "MAC_OVERRIDE": Critical,
	"NET_ADMIN": High, "NET_RAW": High, "DAC_OVERRIDE": High, "SETUID": High, "SETGID": High,
	"SETFCAP": High, "SETPCAP": High, "CHOWN": High, "FOWNER": High, "SYS_CHROOT": High,
	"MKNOD": High, "PERFMON": High, "SYS_TIME": High, "AUDIT_CONTROL": High,
	"LINUX_IMMUTABLE": High, "CHECKPOINT_RESTORE": High, "SYS_RESOURCE": High, "SYSLOG": High,
	"NET_BIND_SERVICE": Low, "NET_BROADCAST": Low, "AUDIT_READ": Low,
}

func capabilityRank(c string) Severity {
	if r, ok := capabilityRanks[strings.TrimPrefix(c, "CAP_")]; ok {
		return r
	}
	return Medium
}

func findCapabilities(s *subject) []Finding {
	var out []Finding
	for _, c := range s.pr.Capabilities {
		out = append(out, Finding{Severity: capabilityRank(c), Title: "holds CAP_" + c,
			Detail:      "acts on what its user namespace owns; seccomp and Landlock still apply, but a kernel bug reachable through it is reachable from the sandbox",
			Declaration: field(s, "capabilities")})
	}
	return out
}

func findRootInside(s *subject) []Finding {
	if !s.pr.RootInside {
		return nil
	}
	return []Finding{{Severity: Medium, Title: fmt.Sprintf("runs as %s inside", s.pr.Identity),
		Detail:      "root inside its user namespace owns every file the sandbox creates and is one kernel bug from more; run as a plain user",
		Declaration: field(s, "run.user")}}
}

func findNewPrivileges(s *subject) []Finding {
	if s.c.Process.NoNewPrivs {
		return nil
	}
	return []Finding{{Severity: High, Title: "no_new_privs is not set",
		Detail: "a setuid binary or file capability inside the sandbox grants privileges on exec", Declaration: s.c.Source}}
}

func findSharedNamespaces(s *subject) []Finding {
	var out []Finding
	for _, n := range missingNamespaces(s.c.Namespaces) {
		out = append(out, Finding{Severity: High, Title: "shares the " + n + " namespace with the host",
			Detail: "what that namespace isolates is the host's own", Declaration: s.c.Source})
	}
	return out
}

// findAuditMode: a component in audit mode is not confined; it only records.
func findAuditMode(s *subject) []Finding {
	if s.c.Mode != plan.ModeAudit {
		return nil
	}
	return []Finding{{Severity: High, Title: "mode is audit: nothing is enforced",
		Detail:      "every layer observes instead of denying: seccomp logs, Landlock is off, the firewall logs and accepts, capabilities are a permissive set; would-be denials are logged with enforced false. Use it to learn a policy, never in production",
		Declaration: field(s, "mode")}}
}

func findSeccompLog(s *subject) []Finding {
	if s.c.Seccomp.DefaultAction != "log" || s.c.Mode == plan.ModeAudit {
		return nil
	}
	return []Finding{{Severity: High, Title: "seccomp on_violation is log: it logs and enforces nothing",
		Detail:      "every syscall outside the allowlist, and every deny without an errno, is allowed; use it to find what a program needs, not in production",
		Declaration: field(s, "syscalls.on_violation")}}
}

// riskySyscallReasons are syscalls the default profile leaves out for their attack
// surface or their reach beyond the sandbox, with why; ranked high or medium. Built on
// first use: only a report reads it, and every start of the binary paid for it.
var riskySyscallReasons = sync.OnceValue(func() map[string]syscallRisk {
	m := map[string]syscallRisk{}
	add := func(sev Severity, why string, names ...string) {
		for _, n := range names {
			m[n] = syscallRisk{sev, why}
		}
	}
	add(High, "rearranges the sandbox's own mounts or namespaces", "mount", "umount2", "pivot_root", "unshare", "setns",
		"fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr", "clone3")
	add(High, "reads or changes another process's memory", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd")
	add(High, "a large kernel attack surface, the source of many privilege escalations", "bpf", "userfaultfd",
		"io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key", "perf_event_open")
	add(High, "escapes a bind mount by file handle", "open_by_handle_at")
	add(High, "changes the kernel itself", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "iopl", "ioperm")
	add(Medium, "leaks kernel or other processes' information", "kcmp", "lookup_dcookie", "name_to_handle_at", "syslog", "process_madvise")
	add(Medium, "changes system-wide state", "reboot", "swapon", "swapoff", "quotactl", "acct", "settimeofday",
		"clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "vhangup")
	add(Medium, "rarely needed, with a history of kernel bugs", "modify_ldt", "fanotify_init", "mknod", "mknodat",
		"mbind", "set_mempolicy", "migrate_pages", "move_pages", "chroot")
	return m
})

// syscallRisk is how severe allowing a syscall is, and why.
type syscallRisk struct {
	sev Severity
	why string
}

// riskySyscalls are the allowed syscalls riskySyscallReasons names, sorted.
func riskySyscalls(allowed []string) []string {
	var out []string
	for _, n := range allowed {
		if _, ok := riskySyscallReasons()[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

func findRiskySyscalls(s *subject) []Finding {
	var out []Finding
	for _, n := range riskySyscalls(s.pr.Syscalls.Allowed) {
		r := riskySyscallReasons()[n]
		title := "allows " + n
		if slices.Contains(s.pr.Syscalls.Conditional, n) {
			title += " (under argument conditions)"
		}
		out = append(out, Finding{Severity: r.sev, Title: title, Detail: r.why, Declaration: field(s, "syscalls.allow")})
	}
	return out
}

func findBeyondBaseline(s *subject) []Finding {
	var rest []string
	for _, n := range s.pr.Syscalls.BeyondBaseline {
		if _, risky := riskySyscallReasons()[n]; !risky {
			rest = append(rest, n)
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return []Finding{{Severity: Low, Title: fmt.Sprintf("allows %d syscalls beyond the default profile: %s", len(rest), shortList(rest, 8)),
		Detail: "each widens the kernel surface the component reaches; check that it needs them", Declaration: field(s, "syscalls.allow")}}
}

// systemDirs are the directories whose writability a finding ranks high: the program
// files and configuration of whatever runs in the sandbox.
var systemDirs = []string{"/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot"}

// systemPathSeverity ranks a writable path: critical for /, high for a system directory
// or one of its ancestors, medium beneath one, "" otherwise.
func systemPathSeverity(path string) Severity {
	if path == "/" {
		return Critical
	}
	for _, d := range systemDirs {
		switch {
		case path == d || strings.HasPrefix(d, path+"/"):
			return High
		case strings.HasPrefix(path, d+"/"):
			return Medium
		}
	}
	return ""
}

func findWritableSystemPaths(s *subject) []Finding {
	var out []Finding
	for _, g := range s.pr.Writable {
		if sev := systemPathSeverity(g.Path); sev != "" {
			out = append(out, Finding{Severity: sev, Title: "may write " + g.Path,
				Detail: "the programs and configuration the sandbox runs from can be replaced", Declaration: g.Why})
		}
	}
	return out
}

func findWriteExecute(s *subject) []Finding {
	var out []Finding
	persistent := persistentWrites(s.c)
	for _, g := range s.pr.Writable {
		if !slices.Contains(g.Access, "execute") {
			continue
		}
		f := Finding{Severity: Low, Title: "may write and execute files in " + g.Path, Declaration: g.Why,
			Detail: "code it downloads or writes can run; a private tmpfs keeps it from outliving the sandbox"}
		switch {
		case builtin(g.Why):
			f.Severity = Info
			f.Detail = "confine's own tmpfs, private to the sandbox"
		case slices.Contains(persistent, g.Path):
			f.Severity = Medium
			f.Detail = "code written there runs now and persists across restarts"
		}
		out = append(out, f)
	}
	return out
}

// reachSeverity ranks a destination outside the stack by how many addresses it covers.
func reachSeverity(cidr string) Severity {
	bits, _ := prefixBits(cidr)
	switch {
	case bits == 0:
		return High
	case bits <= wideBits:
		return Medium
	}
	return Low
}

func findConnectOutside(s *subject) []Finding {
	var out []Finding
	for _, r := range s.pr.Reaches {
		if !r.Outside {
			continue
		}
		f := Finding{Severity: reachSeverity(r.Dst), Title: "may connect to " + r.Dst + " on " + r.Port, Declaration: r.Why,
			Detail: "an address outside the stack, which confine does not confine"}
		if bits, _ := prefixBits(r.Dst); bits == 0 {
			f.Detail = "any address: whatever it reads can leave the host"
		} else if bits <= wideBits {
			f.Detail = "a wide range of addresses outside the stack"
		}
		out = append(out, f)
	}
	return out
}

func findListenOutside(s *subject) []Finding {
	var out []Finding
	for _, l := range s.pr.Listen {
		for _, c := range l.From {
			if c.Name == "host" || s.components[c.Name] {
				continue
			}
			out = append(out, Finding{Severity: reachSeverity(c.Name), Title: fmt.Sprintf("accepts %s from %s", l.Port, c.Name),
				Detail: "callers outside the stack, which no policy of the stack describes", Declaration: c.Why})
		}
	}
	return out
}

func findPublished(s *subject) []Finding {
	var out []Finding
	for _, l := range s.pr.Listen {
		for _, c := range l.From {
			if c.Name != "host" {
				continue
			}
			for _, p := range s.published {
				if plan.PortString(p.Proto, p.Port, p.Port) != l.Port {
					continue
				}
				f := Finding{Severity: Low, Title: fmt.Sprintf("%s is published on the host's loopback %s:%d", l.Port, p.HostAddress, p.HostPort),
					Detail: "any local user or process of the host may call it", Declaration: c.Why}
				if a := p.HostAddress; a == "0.0.0.0" || a == "::" {
					f.Severity, f.Title = High, fmt.Sprintf("%s is published on every host address, port %d", l.Port, p.HostPort)
					f.Detail = "anyone who reaches the host on its network may call it"
				} else if !isLoopback(a) {
					f.Severity, f.Title = Medium, fmt.Sprintf("%s is published on the host address %s:%d", l.Port, a, p.HostPort)
					f.Detail = "anyone who reaches that host address may call it"
				}
				out = append(out, f)
			}
		}
	}
	return out
}

func findBestEffort(s *subject) []Finding {
	var out []Finding
	for _, m := range s.pr.BestEffort {
		f := Finding{Severity: High, Title: "runs without " + m + " where the kernel lacks it",
			Declaration: field(s, "best_effort")}
		switch m {
		case "landlock":
			f.Detail = "the filesystem and TCP port rules are skipped: mounts, seccomp and nftables remain"
		case "nftables":
			f.Detail = "the component's own firewall is skipped: only the stack bridge's firewall filters its traffic"
		case "cgroups":
			f.Severity, f.Detail = Medium, "where cgroups cannot be set (without root, or without the controller) only rlimits stand in: RLIMIT_NPROC for pids (per uid inside), RLIMIT_DATA for memory (mapped, not used, memory; not shared memory or tmpfs), nothing for cpu"
		default:
			f.Detail = "this mechanism may be skipped"
		}
		out = append(out, f)
	}
	return out
}

func findNoLimits(s *subject) []Finding {
	var out []Finding
	r := s.pr.Resources
	if r.MemoryMax == 0 {
		out = append(out, Finding{Severity: Medium, Title: "no memory limit", Detail: "it can exhaust the host's memory", Declaration: field(s, "resources.memory")})
	}
	if r.PidsMax == 0 {
		out = append(out, Finding{Severity: Medium, Title: "no pids limit", Detail: "a fork bomb inside exhausts the host's process table", Declaration: field(s, "resources.pids")})
	}
	if r.CPU == 0 {
		out = append(out, Finding{Severity: Low, Title: "no CPU limit", Detail: "it can starve the host's other work", Declaration: field(s, "resources.cpu")})
	}
	return out
}

func findLandlockNotes(s *subject) []Finding {
	var out []Finding
	for _, n := range s.pr.Notes {
		out = append(out, Finding{Severity: Info, Title: "Landlock: " + n,
			Detail: "nftables still enforces these ports; Landlock no longer backs it up", Declaration: field(s, "network")})
	}
	return out
}

func findUDP(s *subject) []Finding {
	var ports []string
	for _, l := range s.pr.Listen {
		if strings.HasSuffix(l.Port, "/udp") {
			ports = append(ports, "listen "+l.Port)
		}
	}
	for _, r := range s.pr.Reaches {
		if strings.HasSuffix(r.Port, "/udp") {
			ports = append(ports, "connect "+r.Port)
		}
	}
	if len(ports) == 0 {
		return nil
	}
	return []Finding{{Severity: Info, Title: "UDP ports are enforced by nftables alone: " + strings.Join(privileges.UniqueSorted(ports), ", "),
		Detail: "Landlock does not restrict UDP below ABI 10", Declaration: field(s, "network")}}
}

func findUnresolved(s *subject) []Finding {
	var out []Finding
	for _, u := range s.c.Net.Unresolved {
		out = append(out, Finding{Severity: Info, Title: "names a component only a stack resolves: " + u,
			Detail: "compiled on its own, the component has no such peer; review it in its stack", Declaration: field(s, "network")})
	}
	return out
}
