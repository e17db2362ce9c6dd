package report

import (
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// reportBaseline stands in for the default profile in these tests.
var reportBaseline = map[string]bool{"read": true, "write": true, "close": true}

// minimalComponent is a component with the least any Plan grants: its own seven
// namespaces, uid 1000, no capability, seccomp errno over the baseline, one read-only
// path, every limit. It raises no finding and scores 0.
func minimalComponent() plan.Component {
	return plan.Component{
		Name: "web", Source: "t.yaml",
		Process:    plan.Process{Args: []string{"/app/web"}, UID: 1000, GID: 1000, NoNewPrivs: true},
		Namespaces: []string{"cgroup", "ipc", "mount", "net", "pid", "user", "uts"},
		Seccomp: plan.Seccomp{DefaultAction: "errno", Rules: []plan.SeccompRule{
			{Syscalls: []string{"close", "read", "write"}, Action: "allow"}}},
		Landlock: plan.Landlock{Paths: []plan.PathRule{{Path: "/app", Access: []string{"read_file", "read_dir"}, Why: "t.yaml:5:9 filesystem.read[0] /app"}}},
		Cgroup:   plan.Cgroup{MemoryMax: 64 << 20, PidsMax: 64, CPUQuota: 50000, CPUPeriod: 100000},
		Net:      plan.ComponentNet{Address: "10.88.0.2", Listen: []plan.Port{}},
	}
}

// reportSubject places c in a stack with one peer (10.88.0.3) and the bridge (10.88.0.1).
func reportSubject(c *plan.Component, published []plan.Publish) *subject {
	p := &plan.Plan{Name: "t", Components: []plan.Component{*c, {Name: "peer", Net: plan.ComponentNet{Address: "10.88.0.3"}}},
		Network: plan.Network{BridgeAddress: "10.88.0.1", Published: published}}
	pr := privileges.ComponentPrivileges(c, privileges.Addresses(p), reportBaseline)
	return &subject{c: c, pr: &pr, published: published, components: map[string]bool{c.Name: true, "peer": true}}
}

// grant is one way to give a component more privilege; grants compose.
type grant struct {
	name  string
	apply func(c *plan.Component, pub *[]plan.Publish)
}

func flow(set, src, dst, proto string, port uint16, why string) plan.Flow {
	return plan.Flow{Set: set, Src: src, Dst: dst, Proto: proto, First: port, Last: port, Why: why}
}

func addPath(c *plan.Component, path, why string, access ...string) {
	c.Landlock.Paths = append(c.Landlock.Paths, plan.PathRule{Path: path, Access: access, Why: why})
}

func allow(c *plan.Component, names ...string) {
	c.Seccomp.Rules = append(c.Seccomp.Rules, plan.SeccompRule{Syscalls: names, Action: "allow"})
}

func listen(c *plan.Component, proto string, port uint16) {
	c.Net.Listen = append(c.Net.Listen, plan.Port{Proto: proto, First: port, Last: port})
}

func publish(addr string) func(c *plan.Component, pub *[]plan.Publish) {
	return func(c *plan.Component, pub *[]plan.Publish) {
		listen(c, "tcp", 8080)
		c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, flow("ingress", "10.88.0.1/32", "10.88.0.2/32", "tcp", 8080, "s.yaml:7:11 publish[0] "+addr+":80 -> web:8080/tcp"))
		*pub = append(*pub, plan.Publish{HostAddress: addr, HostPort: 80, Component: "web", Address: "10.88.0.2", Port: 8080, Proto: "tcp"})
	}
}

var grants = []grant{
	{"cap NET_BIND_SERVICE", func(c *plan.Component, _ *[]plan.Publish) {
		c.Capabilities.Permitted = append(c.Capabilities.Permitted, "NET_BIND_SERVICE")
	}},
	{"cap SYS_ADMIN", func(c *plan.Component, _ *[]plan.Publish) {
		c.Capabilities.Effective = append(c.Capabilities.Effective, "SYS_ADMIN")
	}},
	{"uid 0", func(c *plan.Component, _ *[]plan.Publish) { c.Process.UID = 0 }},
	{"no_new_privs off", func(c *plan.Component, _ *[]plan.Publish) { c.Process.NoNewPrivs = false }},
	{"shared net", func(c *plan.Component, _ *[]plan.Publish) {
		c.Namespaces = []string{"cgroup", "ipc", "mount", "pid", "user", "uts"}
	}},
	{"seccomp log", func(c *plan.Component, _ *[]plan.Publish) { c.Seccomp.DefaultAction = "log" }},
	{"getrandom", func(c *plan.Component, _ *[]plan.Publish) { allow(c, "getrandom") }},
	{"bpf", func(c *plan.Component, _ *[]plan.Publish) { allow(c, "bpf") }},
	{"write /etc", func(c *plan.Component, _ *[]plan.Publish) {
		addPath(c, "/etc", "t.yaml:6:9 filesystem.write[0] /etc", "write_file")
	}},
	{"write /", func(c *plan.Component, _ *[]plan.Publish) {
		addPath(c, "/", "t.yaml:6:9 filesystem.write[1] /", "write_file")
	}},
	{"write+exec /data", func(c *plan.Component, _ *[]plan.Publish) {
		c.Mounts = append(c.Mounts, plan.Mount{Type: "bind", Source: "/srv/data", Target: "/data", Options: []string{"nosuid"}})
		addPath(c, "/data", "t.yaml:6:15 filesystem.write[2] /data", "write_file", "execute")
	}},
	{"tmpfs /tmp", func(c *plan.Component, _ *[]plan.Publish) {
		addPath(c, "/tmp", "t.yaml:7:9 filesystem.tmpfs[0] /tmp", "write_file", "execute")
	}},
	{"connect outside", func(c *plan.Component, _ *[]plan.Publish) {
		c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, flow("egress", "10.88.0.2/32", "192.0.2.1/32", "tcp", 443, "t.yaml:9:11 network.connect[0] 192.0.2.1:443/tcp"))
	}},
	{"connect any", func(c *plan.Component, _ *[]plan.Publish) {
		c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, flow("egress", "10.88.0.2/32", "0.0.0.0/0", "tcp", 443, "t.yaml:9:11 network.connect[1] 0.0.0.0/0:443/tcp"))
	}},
	{"listen outside", func(c *plan.Component, _ *[]plan.Publish) {
		listen(c, "tcp", 9000)
		c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, flow("ingress", "198.51.100.0/24", "10.88.0.2/32", "tcp", 9000, "t.yaml:8:14 network.listen[0].from[0] 198.51.100.0/24"))
	}},
	{"publish loopback", publish("127.0.0.1")},
	{"publish everywhere", publish("0.0.0.0")},
	{"best_effort cgroups", func(c *plan.Component, _ *[]plan.Publish) { c.BestEffort = append(c.BestEffort, "cgroups") }},
	{"best_effort landlock", func(c *plan.Component, _ *[]plan.Publish) { c.BestEffort = append(c.BestEffort, "landlock") }},
	{"best_effort nftables", func(c *plan.Component, _ *[]plan.Publish) { c.BestEffort = append(c.BestEffort, "nftables") }},
	{"no memory limit", func(c *plan.Component, _ *[]plan.Publish) { c.Cgroup.MemoryMax = 0 }},
	{"no pids limit", func(c *plan.Component, _ *[]plan.Publish) { c.Cgroup.PidsMax = 0 }},
	{"no cpu limit", func(c *plan.Component, _ *[]plan.Publish) { c.Cgroup.CPUQuota, c.Cgroup.CPUPeriod = 0, 0 }},
}

func TestScoreBounds(t *testing.T) {
	c := minimalComponent()
	e := score(reportSubject(&c, nil))
	if e.Score != 0 || e.Level != "minimal" || e.ExposedWeight != 0 {
		t.Errorf("minimal component: score %.1f (%s), exposed weight %d; want 0", e.Score, e.Level, e.ExposedWeight)
	}
	var pub []plan.Publish
	for _, g := range grants {
		g.apply(&c, &pub)
	}
	e = score(reportSubject(&c, pub))
	if e.Score != 10 || e.Level != "severe" {
		for _, f := range e.Factors {
			if !f.Exposed {
				t.Errorf("every grant applied, yet %s is not exposed: %s", f.ID, f.Explanation)
			}
		}
		t.Errorf("every grant applied: score %.1f (%s), want 10", e.Score, e.Level)
	}
	total := 0
	for _, r := range factorRules {
		total += r.weight
		if r.weight <= 0 {
			t.Errorf("factor %s has weight %d", r.id, r.weight)
		}
	}
	if e.TotalWeight != total || len(e.Factors) != len(factorRules) {
		t.Errorf("total weight %d of %d factors, want %d of %d", e.TotalWeight, len(e.Factors), total, len(factorRules))
	}
}

// TestScoreMonotonic: granting more never lowers the score, in any order of grants.
func TestScoreMonotonic(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 50; round++ {
		c := minimalComponent()
		var pub []plan.Publish
		prev := score(reportSubject(&c, pub))
		for _, i := range rng.Perm(len(grants)) {
			grants[i].apply(&c, &pub)
			e := score(reportSubject(&c, pub))
			if e.Score < prev.Score {
				t.Fatalf("round %d: %s lowered the score from %.1f to %.1f", round, grants[i].name, prev.Score, e.Score)
			}
			for j, f := range e.Factors {
				if prev.Factors[j].Exposed && !f.Exposed {
					t.Fatalf("round %d: %s un-exposed factor %s", round, grants[i].name, f.ID)
				}
			}
			prev = e
		}
	}
	// Each grant alone exposes at least one factor.
	for _, g := range grants {
		c := minimalComponent()
		var pub []plan.Publish
		g.apply(&c, &pub)
		if e := score(reportSubject(&c, pub)); e.Score <= 0 {
			t.Errorf("%s alone scores %.1f", g.name, e.Score)
		}
	}
}

func TestScoreOrdersComponents(t *testing.T) {
	low, high := minimalComponent(), minimalComponent()
	var pub []plan.Publish
	for _, g := range grants[:6] { // capabilities, root, no_new_privs, namespaces, seccomp log
		g.apply(&high, &pub)
	}
	grants[11].apply(&low, &pub) // a tmpfs with write and execute
	a, b := score(reportSubject(&low, nil)), score(reportSubject(&high, nil))
	if !(0 < a.Score && a.Score < b.Score) {
		t.Errorf("scores %.1f (a tmpfs) and %.1f (root, SYS_ADMIN, seccomp log): want 0 < a < b", a.Score, b.Score)
	}
}

// auditMode makes c an audit-mode component as compileAudit does: seccomp logs,
// Docker's capability set.
func auditMode(c *plan.Component) {
	c.Mode = plan.ModeAudit
	c.Seccomp.DefaultAction = "log"
	caps := []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
		"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
	c.Audit = &plan.AuditMode{Capabilities: plan.Capabilities{Permitted: caps, Effective: caps, Bounding: caps}}
}

// withoutMechanisms is c with the mechanisms audit mode observes with switched off:
// seccomp only logs, Landlock and nftables may be skipped. (Namespaces and cgroups stay:
// audit mode keeps them, and they score the same in both.)
func withoutMechanisms(c *plan.Component) {
	c.Seccomp.DefaultAction = "log"
	c.BestEffort = append(c.BestEffort, "landlock", "nftables")
}

// TestScoreAuditMode: nothing is enforced in audit mode, so a component scores at least
// as high there as enforced, and at least as high as with no sandbox mechanism, for any
// set of grants.
func TestScoreAuditMode(t *testing.T) {
	c := minimalComponent()
	a := minimalComponent()
	auditMode(&a)
	e := score(reportSubject(&a, nil))
	var exposed []string
	for _, f := range e.Factors {
		if f.Exposed {
			exposed = append(exposed, f.ID)
		}
	}
	want := "capabilities dangerous_capabilities seccomp_log syscalls_beyond_baseline risky_syscalls writable_system_path write_execute outside_callers outside_reach wide_reach best_effort_landlock best_effort_nftables"
	if got := strings.Join(exposed, " "); got != want || e.Score != 6.8 || e.Level != "high" {
		t.Errorf("minimal component in audit mode: score %.1f (%s), exposed %s; want 6.8 (high), %s", e.Score, e.Level, got, want)
	}
	if plain := score(reportSubject(&c, nil)); plain.Score != 0 {
		t.Errorf("the same component enforced scores %.1f, want 0", plain.Score)
	}
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 100; round++ {
		c := minimalComponent()
		var pub []plan.Publish
		for _, i := range rng.Perm(len(grants))[:rng.Intn(len(grants)+1)] {
			grants[i].apply(&c, &pub)
		}
		a, bare := c, c
		a.BestEffort, bare.BestEffort = slices.Clone(c.BestEffort), slices.Clone(c.BestEffort)
		auditMode(&a)
		withoutMechanisms(&bare)
		ea, ec, eb := score(reportSubject(&a, pub)), score(reportSubject(&c, pub)), score(reportSubject(&bare, pub))
		if ea.Score < ec.Score || ea.Score < eb.Score {
			t.Fatalf("round %d: audit mode scores %.1f, enforced %.1f, without mechanisms %.1f", round, ea.Score, ec.Score, eb.Score)
		}
		open := false // a factor audit mode exposes is not exposed enforced
		for _, f := range ec.Factors {
			_, ok := auditExposed[f.ID]
			open = open || (ok && !f.Exposed)
		}
		if open && ea.ExposedWeight <= ec.ExposedWeight {
			t.Fatalf("round %d: audit mode exposes weight %d, no more than enforced %d", round, ea.ExposedWeight, ec.ExposedWeight)
		}
	}
}
