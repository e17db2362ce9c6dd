package learn

import (
	"bufio"
	"bytes"
	"encoding/json"
	goldenfile "github.com/confine-sandbox/confine/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy"
)

// records reads a JSON Lines file of records as a log's reader decodes them (numbers
// as float64).
func records(t testing.TB, name string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// host is a fake host: which paths exist, and one symlink.
var host = Options{
	Exists: func(p string) bool { return !strings.HasSuffix(p, "/index.html") },
	Resolve: func(p string) string {
		if p == "/etc/nginx/sites-enabled/default" {
			return "/etc/nginx/sites-available/default"
		}
		return ""
	},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, "learn", filepath.Join("testdata", name), got)
}

func mustRun(t *testing.T, spec RunSpec) []byte {
	t.Helper()
	run, err := RunPolicy(spec)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func checked(t *testing.T, out []byte) {
	t.Helper()
	if errs := policy.Check(fstest.MapFS{"p.yaml": {Data: out}}, "p.yaml"); len(errs) > 0 {
		t.Fatalf("confine check refuses the output: %v\n%s", errs, out)
	}
}

// TestSynthesizeGolden learns from a log that has every kind of record, good and bad,
// and compares the policy with the golden file; twice, to show the output does not
// depend on map order.
func TestSynthesizeGolden(t *testing.T) {
	run := mustRun(t, RunSpec{Command: []string{"/usr/sbin/nginx", "-g", "daemon off;"}})
	golden(t, "nginx.run.yaml", run)
	recs := records(t, "nginx.jsonl")
	var first []byte
	for i := 0; i < 3; i++ {
		out, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: Observe(recs), Options: host})
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if i == 0 {
			first = out
			golden(t, "nginx.learned.yaml", out)
		} else if !bytes.Equal(out, first) {
			t.Fatalf("run %d differs from the first:\n%s", i, out)
		}
	}
	checked(t, first)
}

// TestSynthesizeFacts states the rules the golden file shows, so that a -update that
// breaks one fails here.
func TestSynthesizeFacts(t *testing.T) {
	run := mustRun(t, RunSpec{Command: []string{"/usr/sbin/nginx"}})
	seen := Observe(records(t, "nginx.jsonl"))
	out, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: seen, Options: host})
	if err != nil {
		t.Fatal(err)
	}
	c := loadOut(t, out)
	has := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, want := range []string{"/etc/nginx/nginx.conf", "/etc/nginx/modules-enabled", "/srv/www", "/etc/nginx/sites-enabled/default", "/etc/nginx/sites-available/default"} {
		if !has(c.Filesystem.Read, want) {
			t.Errorf("read lacks %s: %v", want, c.Filesystem.Read)
		}
	}
	for _, not := range []string{"/etc/nginx/modules-enabled/50-mod.conf", "/srv/www/a.html", "/srv/www/sub/deep.html", "/etc/nginx/index.html", "/proc/self/stat", "/usr/share/zoneinfo/UTC", "/etc/nginx", "/srv"} {
		if has(c.Filesystem.Read, not) {
			t.Errorf("read has %s: %v", not, c.Filesystem.Read)
		}
	}
	for _, want := range []string{"/var/log/nginx/access.log", "/var/lib/nginx/body"} {
		if !has(c.Filesystem.Write, want) {
			t.Errorf("write lacks %s: %v", want, c.Filesystem.Write)
		}
	}
	if seen.Skipped == 0 || seen.Enforced != 1 {
		t.Errorf("skipped %d, enforced %d: want some skipped, one enforced", seen.Skipped, seen.Enforced)
	}
	if _, ok := seen.Syscalls["mount"]; !ok {
		t.Errorf("a denial written before component.start (the init stage's, after the filter) was not learned")
	}
	if _, ok := seen.Syscalls["ptrace"]; ok {
		t.Errorf("another component's denial was learned")
	}
	for _, want := range []string{`"@basic-io"`, "{names: [socket], args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: 2}]}",
		"- ioctl #", "- fcntl #", "CLONE_NEWNS|", "{port: 80/tcp, from: [host]}", "{to: 'api.example.com:443/tcp'}",
		"{to: '10.0.0.1:53/udp'}", "- NET_BIND_SERVICE #", "extends: learned"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the policy lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"- read #", "clone3", "reed", "mode:"} {
		if strings.Contains(string(out), not) {
			t.Errorf("the policy has %q:\n%s", not, out)
		}
	}
}

func loadOut(t *testing.T, out []byte) *policy.Component {
	t.Helper()
	checked(t, out)
	c, err := policy.Load(fstest.MapFS{"p.yaml": {Data: out}}, "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRunPolicyInlines: a base that extends service runs with service's paths and
// refusals but not its allowlist, relative sources made absolute, and its own syscalls
// replaced.
func TestRunPolicyInlines(t *testing.T) {
	base := []byte(`# the cache
version: 1
name: cache
extends: [service, host-runtime]
run:
  command: [/usr/bin/redis-server]
  user: "103:111"
filesystem:
  read: [{path: /etc/redis, idmap: true}]
  bind:
    - {source: ./data, target: /var/lib/redis, write: true}
syscalls:
  extends: default
  allow: [io_uring_setup]
  deny: [ptrace]
`)
	run := mustRun(t, RunSpec{Base: base, BaseName: "cache.yaml", BaseDir: "/srv/cache", Command: []string{"/usr/bin/redis-server", "--save", ""}})
	golden(t, "cache.run.yaml", run)
	seen := Observe(records(t, "nginx.jsonl"))
	seen.Component = "cache" // the same records, as the cache's
	out, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: relabel(t, "cache"), Options: host})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cache.learned.yaml", out)
	c := loadOut(t, out)
	if len(c.Extends) != 1 || c.Extends[0] != "host-runtime" {
		t.Errorf("extends %v, want [host-runtime]", c.Extends)
	}
	if c.Filesystem.Bind[0].Source != "/srv/cache/data" {
		t.Errorf("bind source %s, want /srv/cache/data", c.Filesystem.Bind[0].Source)
	}
	if !strings.Contains(string(out), "- /tmp") || !strings.Contains(string(out), "AF_PACKET") || !strings.Contains(string(out), "- ptrace") {
		t.Errorf("service's tmpfs and refusals, or the base's deny, are missing:\n%s", out)
	}
	if strings.Contains(string(out), "io_uring_setup") {
		t.Errorf("the base's own allow list was kept, not learned:\n%s", out)
	}
}

// relabel reads the nginx records as another component's.
func relabel(t *testing.T, name string) *Seen {
	recs := records(t, "nginx.jsonl")
	for i := range recs {
		if recs[i].Component == "nginx" {
			recs[i].Component = name
		}
	}
	return Observe(recs)
}

// TestMerge folds an earlier policy in: its paths, ports, peers and syscalls stay, and
// learning the same log again over the result changes nothing.
func TestMerge(t *testing.T) {
	run := mustRun(t, RunSpec{Command: []string{"/usr/sbin/nginx"}})
	old := []byte(`version: 1
name: nginx
extends: [host-runtime, service]
run: {command: [/usr/sbin/nginx]}
filesystem:
  read: [/etc/ssl/private/key.pem, /srv/www/a.html]
  write: [/var/cache/nginx]
network:
  listen: [{port: 443/tcp, from: [host]}, {port: 80-81/tcp, from: [host]}]
  connect: [{to: 10.0.0.9:6379/tcp}]
capabilities: [CHOWN]
syscalls:
  extends: learned
  allow:
    - getrandom
    - "@timer"
    - {names: [socket], args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: 10}]}
    - {names: [read], args: [{index: 0, op: eq, value: 0}]}
`)
	out, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: Observe(records(t, "nginx.jsonl")), Old: old, OldName: "old.yaml", Options: host})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	golden(t, "nginx.merged.yaml", out)
	c := loadOut(t, out)
	for _, want := range []string{"/etc/ssl/private/key.pem"} {
		if !contains(c.Filesystem.Read, want) {
			t.Errorf("read lacks %s", want)
		}
	}
	if contains(c.Filesystem.Read, "/srv/www/a.html") {
		t.Errorf("a path inside a collapsed directory was kept")
	}
	if contains(c.Extends, "service") {
		t.Errorf("service (with its allowlist) was folded in: %v", c.Extends)
	}
	for _, want := range []string{"getrandom", `"@timer"`, "value: 10}", "443/tcp", "80-81/tcp", "10.0.0.9:6379/tcp", "- CHOWN", "/var/cache/nginx"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the merged policy lacks %q", want)
		}
	}
	if strings.Contains(string(out), "{port: 80/tcp") {
		t.Errorf("80/tcp was added over the old 80-81/tcp")
	}
	if strings.Contains(string(out), "op: eq, value: 0}") {
		t.Errorf("a conditional rule on read was kept though read is allowed outright")
	}
	again, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: Observe(records(t, "nginx.jsonl")), Old: out, OldName: "old.yaml", Options: host})
	if err != nil {
		t.Fatal(err)
	}
	c2 := loadOut(t, again)
	if strings.Join(c2.Filesystem.Read, " ") != strings.Join(c.Filesystem.Read, " ") || len(c2.Syscalls.Allow) != len(c.Syscalls.Allow) {
		t.Errorf("merging a policy with the log it came from changed it:\n%s\n----\n%s", out, again)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestNoStart: a log whose component never started says so.
func TestNoStart(t *testing.T) {
	run := mustRun(t, RunSpec{Command: []string{"/bin/true"}})
	_, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: Observe(nil)})
	if err == nil || !strings.Contains(err.Error(), "component.start") {
		t.Fatalf("got %v", err)
	}
}

// TestLearnedProfileMatchesDefault keeps profiles/learned.yaml's refusals those of
// default.yaml.
func TestLearnedProfileMatchesDefault(t *testing.T) {
	a, err := profileDenies("learned")
	if err != nil {
		t.Fatal(err)
	}
	b, err := profileDenies("default")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("learned has %d deny rules, default %d", len(a), len(b))
	}
	for i := range a {
		if canon(a[i]) != canon(b[i]) {
			t.Errorf("deny[%d]: learned %s, default %s", i, canon(a[i]), canon(b[i]))
		}
	}
}

func TestNameFor(t *testing.T) {
	for in, want := range map[string]string{"/usr/sbin/nginx": "nginx", "/usr/bin/redis-server": "redis-server",
		"/x/My_Prog.v2": "my-prog-v2", "/x/___": "learned", "/x/" + strings.Repeat("a", 40): strings.Repeat("a", 32)} {
		if got := nameFor(in); got != want {
			t.Errorf("nameFor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestObservedCalls: the run's count of watched calls makes a syscall used though no
// denial named it (a rename in a directory the policy grants).
func TestObservedCalls(t *testing.T) {
	recs := []audit.Record{{Kind: audit.KindStart, Component: "x"},
		{Kind: KindObservedCalls, Component: "x", Details: map[string]any{"calls": map[string]any{"rename": 3.0, "bogus!": 1.0, "openat": "x"}}}}
	s := Observe(recs)
	if c := s.Syscalls["rename"]; c == nil || c.Count != 3 {
		t.Errorf("rename: %+v", c)
	}
	if len(s.Syscalls) != 1 {
		t.Errorf("learned %v, want rename alone", s.Syscalls)
	}
}

// TestConnectNames: a learned connect names the record's peer, else its DNS name, else
// its address; the peer wins over a name, a name over the address.
func TestConnectNames(t *testing.T) {
	rec := func(kind string, d map[string]any) audit.Record {
		return audit.Record{Component: "web", Kind: kind, Details: d}
	}
	conn := func(extra map[string]any) audit.Record {
		d := map[string]any{"layer": "network", "direction": "connect", "proto": "tcp", "dport": float64(9099), "enforced": false, "mechanism": "nftables"}
		for k, v := range extra {
			d[k] = v
		}
		return rec("denial", d)
	}
	seen := Observe([]audit.Record{
		rec("component.start", map[string]any{}),
		conn(map[string]any{"dst": "10.121.0.3", "peer": "api"}),
		conn(map[string]any{"dst": "10.121.0.3", "peer": "api", "mechanism": "landlock"}),
		conn(map[string]any{"dst": "198.51.100.7", "name": "svc.example.test"}),
		conn(map[string]any{"dst": "10.121.0.1", "peer": "host", "name": "ignored.example"}),
		conn(map[string]any{"dst": "192.0.2.9"}),
	})
	want := map[string]int{"api:9099/tcp": 2, "svc.example.test:9099/tcp": 1, "host:9099/tcp": 1, "192.0.2.9:9099/tcp": 1}
	if len(seen.Connect) != len(want) {
		t.Errorf("connect %v, want %v", seen.Connect, want)
	}
	for to, n := range want {
		if seen.Connect[to] != n {
			t.Errorf("connect %s seen %d times, want %d (%v)", to, seen.Connect[to], n, seen.Connect)
		}
	}
	run := mustRun(t, RunSpec{Command: []string{"/usr/bin/web"}})
	out, err := Synthesize(Input{Run: run, RunName: "run.yaml", Seen: seen, Options: host})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"to: 'api:9099/tcp'", "to: 'svc.example.test:9099/tcp'", "to: 'host:9099/tcp'", "to: '192.0.2.9:9099/tcp'"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the policy lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "10.121.0.3") {
		t.Errorf("the policy names the peer's address:\n%s", out)
	}
}
