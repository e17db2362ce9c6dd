package diff_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/audit/diff"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
)

// component is the api of examples/shop as a Plan would have it, small enough to edit
// one field at a time.
func apiComponent() plan.Component {
	return plan.Component{
		Name: "api", Source: "api.yaml",
		Process:      plan.Process{UID: 1000, GID: 1000, Rootfs: "rootfs/api", NoNewPrivs: true},
		Namespaces:   []string{"cgroup", "ipc", "mount", "net", "pid", "user", "uts"},
		Capabilities: plan.Capabilities{Bounding: []string{}, Permitted: []string{}, Effective: []string{}, Inheritable: []string{}, Ambient: []string{}},
		Landlock: plan.Landlock{
			HandledFS:  []string{"execute", "make_dir", "read_dir", "read_file", "truncate", "write_file"},
			HandledNet: []string{"bind_tcp", "connect_tcp"},
			Scoped:     []string{"abstract_unix_socket", "signal"},
			Paths: []plan.PathRule{
				{Path: "/app", Access: []string{"execute", "read_dir", "read_file"}, Why: "api.yaml:10:9 filesystem.read[0] /app"},
				{Path: "/var/lib/api", Access: []string{"make_dir", "read_dir", "read_file", "truncate", "write_file"}, Why: "api.yaml:11:10 filesystem.write[0] /var/lib/api"},
			},
		},
		Seccomp: plan.Seccomp{DefaultAction: "errno", Rules: []plan.SeccompRule{
			{Syscalls: []string{"openat", "read", "write"}, Action: "allow"},
			{Syscalls: []string{"socket"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 2}}},
		}},
		Cgroup:  plan.Cgroup{MemoryMax: 256 << 20, PidsMax: 128, CPUQuota: 100000, CPUPeriod: 100000},
		Rlimits: []plan.Rlimit{{Type: "RLIMIT_CORE"}, {Type: "RLIMIT_NOFILE", Soft: 4096, Hard: 4096}},
		Net: plan.ComponentNet{
			Address: "10.88.0.3",
			Listen:  []plan.Port{{Proto: "tcp", First: 9000, Last: 9000}},
			Firewall: plan.Firewall{Flows: []plan.Flow{
				{Set: "egress", Src: "10.88.0.3/32", Dst: "10.88.0.4/32", Proto: "tcp", First: 5432, Last: 5432, Why: "api.yaml:18:9 network.connect[0] db:5432/tcp"},
				{Set: "egress", Src: "10.88.0.3/32", Dst: "10.1.0.0/16", Proto: "tcp", First: 443, Last: 443, Why: "api.yaml:19:9 network.connect[1] 10.1.0.0/16:443/tcp"},
				{Set: "ingress", Src: "10.88.0.2/32", Dst: "10.88.0.3/32", Proto: "tcp", First: 9000, Last: 9000, Why: "api.yaml:16:13 network.listen[0].from[0] frontend"},
			}},
		},
	}
}

// stack puts the component in a stack with a frontend and a db, so flows name peers.
func shopPlan(c plan.Component) *plan.Plan {
	return &plan.Plan{Version: plan.Version, Name: "shop",
		Components: []plan.Component{{Name: "frontend", Net: plan.ComponentNet{Address: "10.88.0.2"}}, c, {Name: "db", Net: plan.ComponentNet{Address: "10.88.0.4"}}},
		Network: plan.Network{BridgeAddress: "10.88.0.1",
			Published: []plan.Publish{{HostAddress: "127.0.0.1", HostPort: 8080, Component: "api", Address: "10.88.0.3", Port: 9000, Proto: "tcp"}}},
	}
}

type diffChange struct{ kind, what, detail string }

// TestDiffKinds changes one thing at a time; each case is checked both ways: OLD → NEW
// grants what it lists, NEW → OLD takes the same away (or, for notes, notes it again).
func TestDiffKinds(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(c *plan.Component, p *plan.Plan)
		grant  diffChange // what NEW grants; reversed, what it takes away
		back   diffChange // the take-away of the reverse, when it reads differently
		note   bool       // a note both ways, not growth
		both   func(c *plan.Component)
		oneWay bool // the reverse changes nothing
	}{
		{"syscall allowed", func(c *plan.Component, _ *plan.Plan) {
			c.Seccomp.Rules = append(c.Seccomp.Rules, plan.SeccompRule{Syscalls: []string{"ptrace"}, Action: "allow"})
		}, diffChange{diff.ChangeSyscall, "ptrace", "beyond the default profile"}, diffChange{diff.ChangeSyscall, "ptrace", ""}, false, nil, false},
		{"conditional to unconditional", func(c *plan.Component, _ *plan.Plan) {
			c.Seccomp.Rules[1].Args = nil
		}, diffChange{diff.ChangeSyscall, "socket", "now without conditions (was only when arg0 == 0x2)"}, diffChange{diff.ChangeSyscall, "socket", "now only when arg0 == 0x2"}, false, nil, false},
		{"another condition", func(c *plan.Component, _ *plan.Plan) {
			c.Seccomp.Rules = append(c.Seccomp.Rules, plan.SeccompRule{Syscalls: []string{"socket"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 10}}})
		}, diffChange{diff.ChangeSyscall, "socket", "also when arg0 == 0xa"}, diffChange{diff.ChangeSyscall, "socket", "no longer when arg0 == 0xa"}, false, nil, false},
		{"argument deny dropped", func(c *plan.Component, _ *plan.Plan) {
			// reversed: NEW adds an argument deny to write
			c.Seccomp.Rules = append(c.Seccomp.Rules, plan.SeccompRule{Syscalls: []string{"write"}, Action: "errno", Errno: 13, Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 99}}})
			c.Seccomp.Denies = []plan.SeccompDeny{{Syscall: "write", Why: "api.yaml:22:9 syscalls.deny[0] write", Args: true}}
		}, diffChange{}, diffChange{diff.ChangeDeny, "write", "refused when arg0 == 0x63"}, false, nil, false},
		{"on_violation log", func(c *plan.Component, _ *plan.Plan) { c.Seccomp.DefaultAction = "log" },
			diffChange{diff.ChangeOnViolation, "log", "syscalls outside the allowlist run, only logged (was errno)"}, diffChange{diff.ChangeOnViolation, "log", "syscalls outside the allowlist are refused again (errno)"}, false, nil, false},
		{"mode audit", func(c *plan.Component, _ *plan.Plan) { c.Mode = plan.ModeAudit },
			diffChange{diff.ChangeIdentity, "mode audit", "nothing is enforced: every layer only observes and logs"}, diffChange{diff.ChangeIdentity, "mode audit", "enforced again"}, false, nil, false},
		{"on_violation kill", func(c *plan.Component, _ *plan.Plan) { c.Seccomp.DefaultAction = "kill_process" },
			diffChange{diff.ChangeOnViolation, "kill_process", "was errno; refused either way"}, diffChange{diff.ChangeOnViolation, "errno", "was kill_process; refused either way"}, true, nil, false},
		{"capability", func(c *plan.Component, _ *plan.Plan) {
			c.Capabilities.Permitted, c.Capabilities.Bounding = []string{"NET_ADMIN"}, []string{"NET_ADMIN"}
		}, diffChange{diff.ChangeCapability, "NET_ADMIN", ""}, diffChange{}, false, nil, false},
		{name: "capability into ambient", both: func(c *plan.Component) {
			c.Capabilities.Permitted, c.Capabilities.Bounding = []string{"CHOWN"}, []string{"CHOWN"}
		}, edit: func(c *plan.Component, _ *plan.Plan) {
			c.Capabilities.Inheritable, c.Capabilities.Ambient = []string{"CHOWN"}, []string{"CHOWN"}
		}, grant: diffChange{diff.ChangeCapability, "CHOWN", "now also inheritable, ambient"}, back: diffChange{diff.ChangeCapability, "CHOWN", "no longer inheritable, ambient"}},
		{name: "deny dropped under log", both: func(c *plan.Component) {
			c.Seccomp.DefaultAction = "log"
			c.Seccomp.Denies = []plan.SeccompDeny{{Syscall: "ptrace", Why: "api.yaml:22:9 syscalls.deny[0] ptrace"}}
		}, edit: func(c *plan.Component, _ *plan.Plan) { c.Seccomp.Denies = nil },
			grant: diffChange{diff.ChangeDeny, "ptrace", "deny dropped: it now runs, logged"}, oneWay: true},
		{name: "deny dropped under errno", both: func(c *plan.Component) {
			c.Seccomp.Denies = []plan.SeccompDeny{{Syscall: "ptrace", Why: "api.yaml:22:9 syscalls.deny[0] ptrace"}}
		}, edit: func(c *plan.Component, _ *plan.Plan) { c.Seccomp.Denies = nil },
			grant: diffChange{diff.ChangeDeny, "ptrace", "deny dropped; still not allowed"}, note: true, oneWay: true},
		{name: "deny dropped, syscall allowed", both: func(c *plan.Component) {
			c.Seccomp.Denies = []plan.SeccompDeny{{Syscall: "ptrace", Why: "api.yaml:22:9 syscalls.deny[0] ptrace"}}
		}, edit: func(c *plan.Component, _ *plan.Plan) {
			c.Seccomp.Denies = nil
			c.Seccomp.Rules = append(c.Seccomp.Rules, plan.SeccompRule{Syscalls: []string{"ptrace"}, Action: "allow"})
		}, grant: diffChange{diff.ChangeSyscall, "ptrace", "beyond the default profile; its deny is gone (api.yaml:22:9 syscalls.deny[0] ptrace)"},
			back: diffChange{diff.ChangeSyscall, "ptrace", "denied by api.yaml:22:9 syscalls.deny[0] ptrace"}},
		{"unresolved peer", func(c *plan.Component, _ *plan.Plan) { c.Net.Unresolved = []string{"connect cache:6379/tcp"} },
			diffChange{diff.ChangeReach, "cache:6379/tcp", "a component: resolved only in a stack"}, diffChange{}, false, nil, false},
		{"write path", func(c *plan.Component, _ *plan.Plan) {
			c.Landlock.Paths = append(c.Landlock.Paths, plan.PathRule{Path: "/srv", Access: []string{"read_file", "write_file"}, Why: "api.yaml:11:24 filesystem.write[1] /srv"})
		}, diffChange{diff.ChangePath, "/srv", "write, read"}, diffChange{}, false, nil, false},
		{"more rights on a path", func(c *plan.Component, _ *plan.Plan) {
			c.Landlock.Paths[0].Access = append(c.Landlock.Paths[0].Access, "truncate")
		}, diffChange{diff.ChangePath, "/app", "write (truncate)"}, diffChange{}, false, nil, false},
		{"parent replaces child", func(c *plan.Component, _ *plan.Plan) {
			c.Landlock.Paths[1].Path = "/var"
		}, diffChange{diff.ChangePath, "/var", "write, read"}, diffChange{}, false, nil, false},
		{"landlock handles less", func(c *plan.Component, _ *plan.Plan) {
			c.Landlock.HandledFS = c.Landlock.HandledFS[:5] // write_file no longer handled
		}, diffChange{diff.ChangeLandlock, "write_file", "filesystem rights no longer restricted"}, diffChange{diff.ChangeLandlock, "write_file", "filesystem rights now restricted"}, false, nil, false},
		{"scope dropped", func(c *plan.Component, _ *plan.Plan) { c.Landlock.Scoped = []string{"signal"} },
			diffChange{diff.ChangeLandlock, "abstract_unix_socket", "scopes no longer restricted"}, diffChange{diff.ChangeLandlock, "abstract_unix_socket", "scopes now restricted"}, false, nil, false},
		{"new listener", func(c *plan.Component, _ *plan.Plan) {
			c.Net.Listen = append(c.Net.Listen, plan.Port{Proto: "tcp", First: 9100, Last: 9100})
			c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, plan.Flow{Set: "ingress", Src: "10.88.0.4/32", Proto: "tcp", First: 9100, Last: 9100, Why: "api.yaml:17:13 network.listen[1].from[0] db"})
		}, diffChange{diff.ChangeListen, "9100/tcp", "from db"}, diffChange{}, false, nil, false},
		{"new caller", func(c *plan.Component, _ *plan.Plan) {
			c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, plan.Flow{Set: "ingress", Src: "10.88.0.4/32", Proto: "tcp", First: 9000, Last: 9000, Why: "api.yaml:16:23 network.listen[0].from[1] db"})
		}, diffChange{diff.ChangeCaller, "9000/tcp from db", ""}, diffChange{}, false, nil, false},
		{"port range widened", func(c *plan.Component, _ *plan.Plan) {
			c.Net.Firewall.Flows[0].Last = 5434
		}, diffChange{diff.ChangeReach, "db:5433-5434/tcp", ""}, diffChange{}, false, nil, false},
		{"outside CIDR widened", func(c *plan.Component, _ *plan.Plan) {
			c.Net.Firewall.Flows[1].Dst = "10.0.0.0/8"
		}, diffChange{diff.ChangeReach, "10.0.0.0/8:443/tcp", "outside the stack"}, diffChange{}, false, nil, false},
		{"outside address", func(c *plan.Component, _ *plan.Plan) {
			c.Net.Firewall.Flows = append(c.Net.Firewall.Flows, plan.Flow{Set: "egress", Dst: "203.0.113.7/32", Proto: "tcp", First: 443, Last: 443, Why: "api.yaml:20:9 network.connect[2] 203.0.113.7:443/tcp"})
		}, diffChange{diff.ChangeReach, "203.0.113.7:443/tcp", "outside the stack"}, diffChange{}, false, nil, false},
		{"published", func(_ *plan.Component, p *plan.Plan) {
			p.Network.Published = append(p.Network.Published, plan.Publish{HostAddress: "0.0.0.0", HostPort: 9000, Component: "api", Port: 9000, Proto: "tcp"})
		}, diffChange{diff.ChangePublish, "0.0.0.0:9000/tcp → api:9000", ""}, diffChange{}, false, nil, false},
		{"memory raised", func(c *plan.Component, _ *plan.Plan) { c.Cgroup.MemoryMax = 512 << 20 },
			diffChange{diff.ChangeResource, "memory", "256Mi → 512Mi"}, diffChange{diff.ChangeResource, "memory", "512Mi → 256Mi"}, false, nil, false},
		{"pids limit removed", func(c *plan.Component, _ *plan.Plan) { c.Cgroup.PidsMax = 0 },
			diffChange{diff.ChangeResource, "pids", "128 → no limit"}, diffChange{diff.ChangeResource, "pids", "no limit → 128"}, false, nil, false},
		{"nofile raised", func(c *plan.Component, _ *plan.Plan) { c.Rlimits[1].Hard = 8192 },
			diffChange{diff.ChangeResource, "nofile", "4096 → 8192"}, diffChange{diff.ChangeResource, "nofile", "8192 → 4096"}, false, nil, false},
		{"uid 0", func(c *plan.Component, _ *plan.Plan) { c.Process.UID = 0 },
			diffChange{diff.ChangeIdentity, "uid 0", "runs as root in its user namespace"}, diffChange{diff.ChangeIdentity, "uid 0", "now uid 1000"}, false, nil, false},
		{"user named root", func(c *plan.Component, _ *plan.Plan) { c.Process.User, c.Process.UID, c.Process.GID = "root", 0, 0 },
			diffChange{diff.ChangeIdentity, "root", "runs as root in its user namespace"}, diffChange{diff.ChangeIdentity, "root", "now uid 1000, gid 1000"}, false, nil, false},
		{"user named", func(c *plan.Component, _ *plan.Plan) { c.Process.User, c.Process.UID, c.Process.GID = "redis", 0, 0 },
			diffChange{diff.ChangeIdentity, "user", "uid 1000, gid 1000 → user redis (its uid and primary gid from the sandbox's /etc/passwd when it starts)"},
			diffChange{diff.ChangeIdentity, "user", "user redis (its uid and primary gid from the sandbox's /etc/passwd when it starts) → uid 1000, gid 1000"}, true, nil, false},
		{"namespace dropped", func(c *plan.Component, _ *plan.Plan) {
			c.Namespaces = []string{"cgroup", "ipc", "mount", "pid", "user", "uts"}
		},
			diffChange{diff.ChangeNamespace, "net", "shared with the host"}, diffChange{diff.ChangeNamespace, "net", "now its own"}, false, nil, false},
		{"best effort", func(c *plan.Component, _ *plan.Plan) { c.BestEffort = []string{"landlock"} },
			diffChange{diff.ChangeBestEffort, "landlock", "skipped on a kernel without it"}, diffChange{diff.ChangeBestEffort, "landlock", "required again"}, false, nil, false},
		{"rootfs", func(c *plan.Component, _ *plan.Plan) { c.Process.Rootfs = "/srv/rootfs" },
			diffChange{diff.ChangeRootfs, "/srv/rootfs", "was ./rootfs/api"}, diffChange{diff.ChangeRootfs, "./rootfs/api", "was /srv/rootfs"}, true, nil, false},
	}
	baseline := map[string]bool{"openat": true, "read": true, "write": true, "socket": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, c2 := apiComponent(), apiComponent()
			if tc.both != nil {
				tc.both(&c)
				tc.both(&c2)
			}
			p, p2 := shopPlan(c), shopPlan(c2)
			tc.edit(&p2.Components[1], p2)
			forward := diff.Diff(p, p2, baseline)
			back := diff.Diff(p2, p, baseline)
			if tc.back == (diffChange{}) {
				tc.back = tc.grant
			}
			switch {
			case tc.oneWay && tc.note:
				expectOnlyChange(t, "forward", forward, nil, nil, &tc.grant)
				expectOnlyChange(t, "back", back, nil, nil, nil)
			case tc.oneWay:
				expectOnlyChange(t, "forward", forward, &tc.grant, nil, nil)
				expectOnlyChange(t, "back", back, nil, nil, nil)
			case tc.note:
				expectOnlyChange(t, "forward", forward, nil, nil, &tc.grant)
				expectOnlyChange(t, "back", back, nil, nil, &tc.back)
			case tc.grant == (diffChange{}): // the edit narrows: check the reverse grants
				expectOnlyChange(t, "forward", forward, nil, &tc.back, nil)
				if !back.Grew() {
					t.Errorf("back: no growth:\n%s", diffMarkdown(back))
				}
			default:
				expectOnlyChange(t, "forward", forward, &tc.grant, nil, nil)
				expectOnlyChange(t, "back", back, nil, &tc.back, nil)
			}
		})
	}
}

// expectOnly checks that d has exactly the one change given, in the one list given.
func expectOnlyChange(t *testing.T, dir string, d diff.PlanDiff, grant, take, note *diffChange) {
	t.Helper()
	if d.Grew() != (grant != nil) {
		t.Errorf("%s: Grew() = %v:\n%s", dir, d.Grew(), diffMarkdown(d))
	}
	got := d.Components
	if grant == nil && take == nil && note == nil {
		if len(got) != 0 {
			t.Errorf("%s: want no change:\n%s", dir, diffMarkdown(d))
		}
		return
	}
	if len(got) != 1 || got[0].Component != "api" {
		t.Fatalf("%s: want one changed component, api:\n%s", dir, diffMarkdown(d))
	}
	for _, l := range []struct {
		name string
		want *diffChange
		have []diff.PrivilegeChange
	}{{"grants", grant, got[0].Grants}, {"takes away", take, got[0].TakesAway}, {"notes", note, got[0].Notes}} {
		var want []diffChange
		if l.want != nil {
			want = []diffChange{*l.want}
		}
		var have []diffChange
		for _, c := range l.have {
			have = append(have, diffChange{c.Kind, c.What, c.Detail})
		}
		if len(have) != len(want) || (len(want) == 1 && have[0] != want[0]) {
			t.Errorf("%s: %s = %+v, want %+v", dir, l.name, have, want)
		}
	}
}

func diffMarkdown(d diff.PlanDiff) string {
	var b bytes.Buffer
	d.Markdown(&b)
	return b.String()
}

func TestDiffEqualAndComponents(t *testing.T) {
	c := apiComponent()
	p := shopPlan(c)
	if d := diff.Diff(p, p, nil); d.Grew() || len(d.Components) != 0 || d.Verdict != "no new privileges" {
		t.Errorf("a Plan against itself:\n%s", diffMarkdown(d))
	}
	// A pure narrowing: a path, a syscall, a caller and memory go; nothing comes.
	narrow := apiComponent()
	narrow.Landlock.Paths = narrow.Landlock.Paths[:1]
	narrow.Seccomp.Rules[0].Syscalls = []string{"openat", "read"}
	narrow.Net.Firewall.Flows = narrow.Net.Firewall.Flows[:2]
	narrow.Cgroup.MemoryMax = 128 << 20
	d := diff.Diff(p, shopPlan(narrow), nil)
	if d.Grew() || d.TakesAway != 4 || !strings.HasPrefix(d.Verdict, "no new privileges; takes away 4") {
		t.Errorf("a narrowing: grew %v, takes away %d:\n%s", d.Grew(), d.TakesAway, diffMarkdown(d))
	}
	// A component added grants everything it has; a removed one takes everything away.
	lone := &plan.Plan{Name: "shop", Components: []plan.Component{apiComponent()}}
	added := diff.Diff(&plan.Plan{Name: "shop"}, lone, map[string]bool{"openat": true, "read": true})
	if !added.Grew() || added.Components[0].Status != diff.StatusAdded {
		t.Fatalf("added:\n%s", diffMarkdown(added))
	}
	md := diffMarkdown(added)
	for _, want := range []string{"syscall `default profile`: 2 of its syscalls", "syscall `write`: beyond the default profile", "path `/var/lib/api`: write, read"} {
		if !strings.Contains(md, want) {
			t.Errorf("added: lacks %q:\n%s", want, md)
		}
	}
	removed := diff.Diff(lone, &plan.Plan{Name: "shop"}, nil)
	if removed.Grew() || removed.Components[0].Status != diff.StatusRemoved || removed.TakesAway != 1 {
		t.Errorf("removed:\n%s", diffMarkdown(removed))
	}
}

// TestDiffMarkdownEscapes: a policy under review cannot forge lines of the comment.
func TestDiffMarkdownEscapes(t *testing.T) {
	c := apiComponent()
	c2 := apiComponent()
	c2.Landlock.Paths = append(c2.Landlock.Paths, plan.PathRule{Path: "/x`\n## no new privileges", Access: []string{"read_file"}, Why: "api.yaml:1:1 [link](http://x)\n- fake"})
	md := diffMarkdown(diff.Diff(shopPlan(c), shopPlan(c2), nil))
	if strings.Contains(md, "\n## no new") || strings.Contains(md, "\n- fake") || strings.Count(md, "`")%2 != 0 {
		t.Errorf("unescaped:\n%s", md)
	}
}

type diffFS struct{}

func (diffFS) Open(name string) (fs.File, error) { return os.Open(name) }

// TestDiffGolden compiles pairs of policies under testdata/diff and compares the Markdown
// and JSON with the golden files (go test ./audit/diff -update rewrites them).
func TestDiffGolden(t *testing.T) {
	baseline, err := policy.BaselineSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	compile := func(file string) *plan.Plan {
		t.Helper()
		s, err := policy.Open(diffFS{}, file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, old, new string
		grew           bool
	}{
		{"api", "api-v1.yaml", "api-v2.yaml", true},
		{"api-back", "api-v2.yaml", "api-v1.yaml", true}, // io_uring_enter comes back
		{"api-narrower", "api-v1.yaml", "api-narrow.yaml", false},
		{"api-same", "api-v1.yaml", "api-v1.yaml", false},
		{"shop", "shop-v1/stack.yaml", "shop-v2/stack.yaml", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "diff")
			d := diff.Diff(compile(filepath.Join(dir, tc.old)), compile(filepath.Join(dir, tc.new)), baseline)
			if d.Grew() != tc.grew {
				t.Errorf("Grew() = %v, want %v", d.Grew(), tc.grew)
			}
			js, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, tc.name+".md"), []byte(diffMarkdown(d)))
			golden(t, filepath.Join(dir, tc.name+".json"), append(js, '\n'))
		})
	}
}
