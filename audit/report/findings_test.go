package report

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestFindingRules applies one grant to the minimal component and needs the finding it
// raises: its rule, severity, title and the declaration responsible.
func TestFindingRules(t *testing.T) {
	c := minimalComponent()
	if fs := componentFindings(reportSubject(&c, nil)); len(fs) != 0 {
		t.Fatalf("the minimal component raises findings: %+v", fs)
	}
	byName := map[string]grant{}
	for _, g := range grants {
		byName[g.name] = g
	}
	extra := map[string]func(c *plan.Component, pub *[]plan.Publish){
		"conditional bpf": func(c *plan.Component, _ *[]plan.Publish) {
			c.Seccomp.Rules = append(c.Seccomp.Rules, plan.SeccompRule{Syscalls: []string{"bpf"}, Action: "allow",
				Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 1}}})
		},
		"io_uring": func(c *plan.Component, _ *[]plan.Publish) { allow(c, "io_uring_setup", "io_uring_enter") },
		"mknod":    func(c *plan.Component, _ *[]plan.Publish) { allow(c, "mknod") },
		"write /etc/app": func(c *plan.Component, _ *[]plan.Publish) {
			addPath(c, "/etc/app", "t.yaml:6:9 filesystem.write[0] /etc/app", "write_file")
		},
		"built-in shm": func(c *plan.Component, _ *[]plan.Publish) {
			addPath(c, "/dev/shm", "built-in: POSIX shared memory", "write_file", "execute")
		},
		"connect wide": func(c *plan.Component, _ *[]plan.Publish) {
			c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, flow("egress", "10.88.0.2/32", "8.0.0.0/7", "tcp", 443, "t.yaml:9:11 network.connect[2] 8.0.0.0/7:443/tcp"))
		},
		"connect peer": func(c *plan.Component, _ *[]plan.Publish) {
			c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, flow("egress", "10.88.0.2/32", "10.88.0.3/32", "tcp", 5432, "t.yaml:9:11 network.connect[0] peer:5432/tcp"))
		},
		"publish host address": publish("192.0.2.5"),
		"landlock note": func(c *plan.Component, _ *[]plan.Publish) {
			c.Landlock.Notes = []string{"bind_tcp: more than 1024 ports declared; nftables alone enforces them"}
		},
		"udp": func(c *plan.Component, _ *[]plan.Publish) { listen(c, "udp", 53) },
		"unresolved": func(c *plan.Component, _ *[]plan.Publish) {
			c.Net.Unresolved = []string{"connect db:5432/tcp"}
		},
	}
	for _, tc := range []struct {
		grant    string
		rule     string
		severity Severity
		title    string // substring
		decl     string // prefix
	}{
		{"cap SYS_ADMIN", "capability", Critical, "holds CAP_SYS_ADMIN", "t.yaml capabilities"},
		{"cap NET_BIND_SERVICE", "capability", Low, "holds CAP_NET_BIND_SERVICE", "t.yaml capabilities"},
		{"uid 0", "root_inside", Medium, "runs as uid 0", "t.yaml run.user"},
		{"no_new_privs off", "new_privileges", High, "no_new_privs is not set", "t.yaml"},
		{"shared net", "shared_namespace", High, "shares the net namespace", "t.yaml"},
		{"seccomp log", "seccomp_log", High, "logs and enforces nothing", "t.yaml syscalls.on_violation"},
		{"bpf", "risky_syscall", High, "allows bpf", "t.yaml syscalls.allow"},
		{"conditional bpf", "risky_syscall", High, "allows bpf (under argument conditions)", "t.yaml syscalls.allow"},
		{"io_uring", "risky_syscall", High, "allows io_uring_enter", "t.yaml syscalls.allow"},
		{"mknod", "risky_syscall", Medium, "allows mknod", "t.yaml syscalls.allow"},
		{"getrandom", "beyond_baseline", Low, "1 syscalls beyond the default profile: getrandom", "t.yaml syscalls.allow"},
		{"write /", "writable_system_path", Critical, "may write /", "t.yaml:6:9 filesystem.write[1] /"},
		{"write /etc", "writable_system_path", High, "may write /etc", "t.yaml:6:9 filesystem.write[0] /etc"},
		{"write /etc/app", "writable_system_path", Medium, "may write /etc/app", "t.yaml:6:9"},
		{"write+exec /data", "write_execute", Medium, "write and execute files in /data", "t.yaml:6:15 filesystem.write[2] /data"},
		{"tmpfs /tmp", "write_execute", Low, "write and execute files in /tmp", "t.yaml:7:9 filesystem.tmpfs[0]"},
		{"built-in shm", "write_execute", Info, "/dev/shm", "built-in"},
		{"connect any", "connect_outside", High, "may connect to 0.0.0.0/0 on 443/tcp", "t.yaml:9:11 network.connect[1]"},
		{"connect wide", "connect_outside", Medium, "8.0.0.0/7", "t.yaml:9:11 network.connect[2]"},
		{"connect outside", "connect_outside", Low, "192.0.2.1/32", "t.yaml:9:11 network.connect[0]"},
		{"listen outside", "listen_outside", Low, "accepts 9000/tcp from 198.51.100.0/24", "t.yaml:8:14 network.listen[0].from[0]"},
		{"publish loopback", "published", Low, "published on the host's loopback 127.0.0.1:80", "s.yaml:7:11 publish[0]"},
		{"publish host address", "published", Medium, "published on the host address 192.0.2.5:80", "s.yaml:7:11"},
		{"publish everywhere", "published", High, "published on every host address", "s.yaml:7:11"},
		{"best_effort landlock", "best_effort", High, "runs without landlock", "t.yaml best_effort"},
		{"best_effort nftables", "best_effort", High, "runs without nftables", "t.yaml best_effort"},
		{"best_effort cgroups", "best_effort", Medium, "runs without cgroups", "t.yaml best_effort"},
		{"no memory limit", "no_limit", Medium, "no memory limit", "t.yaml resources.memory"},
		{"no pids limit", "no_limit", Medium, "no pids limit", "t.yaml resources.pids"},
		{"no cpu limit", "no_limit", Low, "no CPU limit", "t.yaml resources.cpu"},
		{"landlock note", "landlock_note", Info, "nftables alone enforces them", "t.yaml network"},
		{"udp", "udp_nftables_only", Info, "listen 53/udp", "t.yaml network"},
		{"unresolved", "unresolved", Info, "connect db:5432/tcp", "t.yaml network"},
	} {
		t.Run(tc.grant, func(t *testing.T) {
			c := minimalComponent()
			var pub []plan.Publish
			if g, ok := byName[tc.grant]; ok {
				g.apply(&c, &pub)
			} else {
				extra[tc.grant](&c, &pub)
			}
			fs := componentFindings(reportSubject(&c, pub))
			i := slices.IndexFunc(fs, func(f Finding) bool { return f.Rule == tc.rule && strings.Contains(f.Title, tc.title) })
			if i < 0 {
				t.Fatalf("no %s finding with %q among %+v", tc.rule, tc.title, fs)
			}
			f := fs[i]
			if f.Severity != tc.severity || !strings.HasPrefix(f.Declaration, tc.decl) || f.Component != "web" || f.Detail == "" {
				t.Errorf("got %+v, want severity %s, declaration %q…", f, tc.severity, tc.decl)
			}
		})
	}
	// A flow to a stack peer is no finding.
	c = minimalComponent()
	extra["connect peer"](&c, nil)
	if fs := componentFindings(reportSubject(&c, nil)); len(fs) != 0 {
		t.Errorf("a flow to a peer raises %+v", fs)
	}
}

// TestFindingOrder: findings come most severe first, and every rule is documented.
func TestFindingOrder(t *testing.T) {
	c := minimalComponent()
	var pub []plan.Publish
	for _, g := range grants {
		g.apply(&c, &pub)
	}
	fs := componentFindings(reportSubject(&c, pub))
	for i := 1; i < len(fs); i++ {
		if fs[i-1].Severity.rank() > fs[i].Severity.rank() {
			t.Errorf("%s (%s) comes before %s (%s)", fs[i-1].Title, fs[i-1].Severity, fs[i].Title, fs[i].Severity)
		}
	}
	if capabilityRank("CAP_SYS_ADMIN") != Critical || capabilityRank("WAKE_ALARM") != Medium {
		t.Error("capability ranks")
	}
}

// TestReportDocs keeps docs/audit-report.md in step: it names every factor with its
// weight and every finding rule.
func TestReportDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit-report.md")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range factorRules {
		total += r.weight
		if row := fmt.Sprintf("| `%s` | %s | %d |", r.id, r.name, r.weight); !strings.Contains(string(doc), row) {
			t.Errorf("docs/audit-report.md lacks the factor row %q", row)
		}
	}
	if !strings.Contains(string(doc), fmt.Sprintf("The weights add up to %d.", total)) {
		t.Errorf("docs/audit-report.md does not say the weights add up to %d", total)
	}
	for _, r := range findingRules {
		if !strings.Contains(string(doc), "| `"+r.id+"` |") {
			t.Errorf("docs/audit-report.md lacks the finding rule %s", r.id)
		}
	}
}
