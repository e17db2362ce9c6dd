//go:build linux

// Package stack_test brings stacks up with the confine binary, as root on a real kernel:
// tests/probe components serve and call each other, and every declared flow must connect
// while every undeclared pair or port is dropped, counted and logged.
package stack_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

var bin, probe string

func TestMain(m *testing.M) {
	testenv.Main(m, "confine-stack-", func(dir string) {
		bin, probe = filepath.Join(dir, "confine"), filepath.Join(dir, "probe")
	})
}

// confine runs the binary and returns its stdout; a non-zero exit fails the test.
func confine(t *testing.T, args ...string) string {
	t.Helper()
	return testenv.Run(t, bin, args...)
}

// component writes a policy running the probe with args.
func component(t *testing.T, dir, name, body string, args ...string) {
	t.Helper()
	quoted := []string{strconv.Quote(probe)}
	for _, a := range args {
		quoted = append(quoted, strconv.Quote(a))
	}
	src := fmt.Sprintf("version: 1\nname: %s\nrun:\n  command: [%s]\n  user: \"1000\"\n%s\nfilesystem: {read: [%s]}\n",
		name, strings.Join(quoted, ", "), body, probe)
	if !strings.Contains(body, "\nsyscalls:") {
		src += "syscalls: {extends: default}\n"
	}
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	Probe string
	OK    bool
	Err   string
	Out   string
}

// results reads a component's probe results from its logs, waiting until last appears.
func results(t *testing.T, stack, name, last string) map[string]result {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := map[string]result{}
		sc := bufio.NewScanner(strings.NewReader(confine(t, "logs", stack, name)))
		for sc.Scan() {
			var r result
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				res[r.Probe] = r
			}
		}
		if _, ok := res[last]; ok {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reported %s; it reported %v", name, last, res)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func status(t *testing.T, stack string) map[string]supervisor.Status {
	t.Helper()
	var list []supervisor.Status
	if err := json.Unmarshal([]byte(confine(t, "ps", "--json", stack)), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]supervisor.Status{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// assertGone checks that nothing of the stack is left: supervisor, state, namespace,
// cgroups.
func assertGone(t *testing.T, stack string) {
	t.Helper()
	if _, alive := supervisor.Running(stack); alive {
		t.Errorf("the supervisor of %s still runs", stack)
	}
	for _, p := range []string{supervisor.StateDir(stack), "/run/confine/netns/" + stack} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left", p)
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/confine/" + stack + ".*")
	if len(cgs) > 0 {
		t.Errorf("cgroups are left: %v", cgs)
	}
}

// TestStackFlows: web calls api, api calls db (tcp) and cache (udp); web is published on
// the host's loopback. Each component then tries what it did not declare.
func TestStackFlows(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables, testenv.Command("nsenter"))
	stack := testenv.StackName("flows")
	dir := t.TempDir()
	// The host's loopback, which no component may reach.
	hostL, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	reached := make(chan struct{}, 1)
	go func() {
		if c, err := hostL.Accept(); err == nil {
			reached <- struct{}{}
			c.Close()
		}
	}()
	// Addresses follow the stack's order: bridge .1, web .2, api .3, db .4, cache .5.
	webProbes := []string{
		"serve:tcp/8080", "cat:/etc/hosts",
		"write:/etc/hosts",                  // the stack's names are read-only
		"dial:tcp/api:9000",                 // declared
		"dial:tcp/10.78.0.4:9000",           // db on a port web may use, but no flow: dropped
		"dial:tcp/10.78.0.3:8080",           // api on a port it does not serve to web: dropped
		"dial:udp/10.78.0.5:6379",           // cache: api's flow, not web's: dropped
		"dial:tcp/10.78.0.1:9000",           // the bridge's own address: dropped
		"dial:tcp/db:5432",                  // not in web's /etc/hosts
		"dial:tcp/10.78.0.4:5432",           // undeclared port: Landlock refuses the connect
		"dial:tcp/" + hostL.Addr().String(), // the host's loopback is another namespace's
		"sleep:",
	}
	component(t, dir, "web", "  health: {tcp: 8080, interval: 500ms}\nnetwork:\n  listen: [{port: 8080/tcp, from: [host]}]\n  connect: [{to: \"api:9000/tcp\"}]", webProbes...)
	component(t, dir, "api", "  restart: on-failure\n  health: {tcp: 9000}\nnetwork:\n  listen: [{port: 9000/tcp, from: [web]}]\n  connect: [{to: \"db:5432/tcp\"}, {to: \"cache:6379/udp\"}, {to: \"cache:6380/tcp\"}]\nresources: {memory: 64Mi, pids: 64}",
		"serve:tcp/9000", "serve:tcp/9001", "dial:tcp/db:5432", "dial:udp/cache:6379", "sleep:")
	component(t, dir, "db", "  health: {tcp: 5432}\nnetwork:\n  listen: [{port: 5432/tcp, from: [api]}]",
		"serve:tcp/5432", "dial:tcp/10.78.0.3:5432", "sleep:")
	component(t, dir, "cache", "  health: {tcp: 6380}\nnetwork:\n  listen: [{port: 6379/udp, from: [api]}, {port: 6380/tcp, from: [api]}]",
		"serve:udp/6379", "serve:tcp/6380", "dial:udp/10.78.0.4:6379", "sleep:")
	pub := freePort(t)
	upStack(t, dir, stack, "10.78.0.0/24", []string{"web", "api", "db", "cache"}, fmt.Sprintf("publish: [\"127.0.0.1:%d -> web:8080/tcp\"]\n", pub))

	// Only root may reach the API: the socket is 0600 in a 0700 directory.
	for path, mode := range map[string]os.FileMode{supervisor.StateDir(stack): 0o700, supervisor.SocketPath(stack): 0o600} {
		if fi, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
	st := status(t, stack)
	want := []string{"db", "cache", "api", "web"} // callees first
	for i, name := range want {
		s := st[name]
		if s.State != supervisor.StateRunning || s.Address != fmt.Sprintf("10.78.0.%d", map[string]int{"web": 2, "api": 3, "db": 4, "cache": 5}[name]) {
			t.Errorf("ps %s: %+v", name, s)
		}
		if i > 0 && st[want[i-1]].StartedAt.After(*s.StartedAt) {
			t.Errorf("%s started before %s, which it calls", name, want[i-1])
		}
	}

	api := results(t, stack, "api", "dial:udp/cache:6379")
	web := results(t, stack, "web", "dial:tcp/"+hostL.Addr().String())
	db := results(t, stack, "db", "dial:tcp/10.78.0.3:5432")
	cache := results(t, stack, "cache", "dial:udp/10.78.0.4:6379")
	for _, c := range []struct {
		who   string
		res   map[string]result
		probe string
		ok    bool
		out   string // the answer (allowed) or the error (forbidden)
	}{
		{"web", web, "dial:tcp/api:9000", true, "hello from api"},
		{"api", api, "dial:tcp/db:5432", true, "hello from db"},
		{"api", api, "dial:udp/cache:6379", true, "hello from cache"},
		{"api", api, "serve:tcp/9001", false, "permission denied"}, // Landlock: undeclared bind
		{"web", web, "write:/etc/hosts", false, ""},
		{"web", web, "dial:tcp/10.78.0.4:9000", false, "timeout"},
		{"web", web, "dial:tcp/10.78.0.3:8080", false, "timeout"},
		{"web", web, "dial:udp/10.78.0.5:6379", false, "not permitted"}, // dropped on output
		{"web", web, "dial:tcp/10.78.0.1:9000", false, "timeout"},
		{"web", web, "dial:tcp/db:5432", false, "lookup db"},
		{"web", web, "dial:tcp/10.78.0.4:5432", false, "permission denied"},
		{"web", web, "dial:tcp/" + hostL.Addr().String(), false, ""},
		{"db", db, "dial:tcp/10.78.0.3:5432", false, "timeout"}, // the reverse of api → db
		{"cache", cache, "dial:udp/10.78.0.4:6379", false, "not permitted"},
	} {
		r, ok := c.res[c.probe]
		got := r.Out
		if !r.OK {
			got = r.Err
		}
		if !ok || r.OK != c.ok || !strings.Contains(got, c.out) {
			t.Errorf("%s %s: ok=%v %q; want ok=%v with %q", c.who, c.probe, r.OK, got, c.ok, c.out)
		}
	}
	select {
	case <-reached:
		t.Error("a component reached the host's loopback")
	default:
	}
	// web's /etc/hosts names only the peers it may reach.
	hosts := web["cat:/etc/hosts"].Out
	if !strings.Contains(hosts, "10.78.0.3\tapi") || strings.Contains(hosts, "db") || strings.Contains(hosts, "cache") {
		t.Errorf("web's /etc/hosts:\n%s", hosts)
	}

	// The published port reaches web through its firewall (from: [host]).
	conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", pub), 2*time.Second)
	if err != nil {
		t.Fatalf("published port: %v", err)
	}
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	answer, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if strings.TrimSpace(answer) != "hello from web" {
		t.Errorf("published port answered %q", answer)
	}

	// Every drop is counted in the dropping namespace and logged through NFLOG.
	drops := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(confine(t, "events", stack)))
	for sc.Scan() {
		var e supervisor.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == supervisor.EventDenial && e.Details["layer"] == "network" {
			drops[fmt.Sprintf("%s %v %v:%v", e.Component, e.Details["proto"], e.Details["dst"], e.Details["dport"])] = true
			if reason, _ := e.Details["reason"].(string); !strings.Contains(reason, "but ") || e.Details["decided_by"] != "default" {
				t.Errorf("a drop without its reason: %v", e.Details)
			}
		}
	}
	for _, d := range []string{"web tcp 10.78.0.4:9000", "web tcp 10.78.0.3:8080", "web udp 10.78.0.5:6379", "web tcp 10.78.0.1:9000", "db tcp 10.78.0.3:5432", "cache udp 10.78.0.4:6379"} {
		if !drops[d] {
			t.Errorf("no network denial for %s; events have %v", d, drops)
		}
	}
	out, err := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(st["web"].Pid)+"/ns/net", "nft", "list", "chain", "inet", "confine", "egress").CombinedOutput()
	if m := regexp.MustCompile(`counter packets (\d+)`).FindSubmatch(out); err != nil || m == nil || string(m[1]) == "0" {
		t.Errorf("web's egress drop counter: %v\n%s", err, out)
	}
}

// TestLifecycle: stop, start, restart, pause and unpause through the API; a failing
// component restarts under on-failure and stays down under no.
func TestLifecycle(t *testing.T) {
	testenv.Require(t, testenv.Root)
	stack := testenv.StackName("life")
	dir := t.TempDir()
	component(t, dir, "svc", "  health: {tcp: 7000, interval: 200ms}\nnetwork:\n  listen: [{port: 7000/tcp, from: [flaky]}]", "serve:tcp/7000", "sleep:")
	component(t, dir, "flaky", "  restart: on-failure\nnetwork:\n  connect: [{to: \"svc:7000/tcp\"}]", "exit:3")
	component(t, dir, "once", "  restart: \"no\"", "exit:4")
	upStack(t, dir, stack, "10.79.0.0/24", []string{"svc", "flaky", "once"}, "")

	// on-failure restarts with a back-off of 1 s, then 2 s: two restarts within 4 s.
	deadline := time.Now().Add(6 * time.Second)
	for status(t, stack)["flaky"].Restarts < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	st := status(t, stack)
	if st["flaky"].Restarts < 2 {
		t.Errorf("flaky: %+v; want at least 2 restarts", st["flaky"])
	}
	if o := st["once"]; o.State != supervisor.StateExited || o.ExitCode == nil || *o.ExitCode != 4 || o.Restarts != 0 {
		t.Errorf("once: %+v; want exited with 4, no restarts", o)
	}
	if s := st["svc"]; s.State != supervisor.StateRunning || s.Health != supervisor.HealthHealthy {
		t.Errorf("svc: %+v", s)
	}

	pid := st["svc"].Pid
	confine(t, "pause", stack, "svc")
	if s := status(t, stack)["svc"]; s.State != supervisor.StatePaused || !frozen(t, pid) {
		t.Errorf("after pause: %+v, frozen %v", s, frozen(t, pid))
	}
	confine(t, "unpause", stack, "svc")
	if s := status(t, stack)["svc"]; s.State != supervisor.StateRunning || frozen(t, pid) {
		t.Errorf("after unpause: %+v", s)
	}
	confine(t, "stop", "--grace", "1s", stack, "svc")
	if s := status(t, stack)["svc"]; s.State != supervisor.StateExited || syscall.Kill(pid, 0) == nil {
		t.Errorf("after stop: %+v (pid %d alive: %v)", s, pid, syscall.Kill(pid, 0) == nil)
	}
	confine(t, "start", stack, "svc")
	s := status(t, stack)["svc"]
	if s.State != supervisor.StateRunning || s.Pid == pid {
		t.Errorf("after start: %+v", s)
	}
	confine(t, "restart", "--grace", "1s", stack, "svc")
	if s2 := status(t, stack)["svc"]; s2.State != supervisor.StateRunning || s2.Pid == s.Pid {
		t.Errorf("after restart: %+v (was pid %d)", s2, s.Pid)
	}
}

// frozen reads the freezer state of pid's cgroup.
func frozen(t *testing.T, pid int) bool {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	// A frozen task sleeps in the freezer: State is D or S; the cgroup says for sure.
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(string(cg), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && (parts[1] == "freezer" || parts[1] == "") {
			file := "/sys/fs/cgroup/freezer" + parts[2] + "/freezer.state"
			if parts[1] == "" {
				file = "/sys/fs/cgroup" + parts[2] + "/cgroup.freeze"
			}
			if state, err := os.ReadFile(file); err == nil {
				s := strings.TrimSpace(string(state))
				return s == "FROZEN" || s == "1"
			}
		}
	}
	t.Fatalf("no freezer cgroup for %d: %s\n%s", pid, cg, data)
	return false
}

// TestSupervisorKilled: a supervisor killed with SIGKILL takes its components and its
// spawner with it, and the next down removes the namespace, cgroups and state it left.
func TestSupervisorKilled(t *testing.T) {
	testenv.Require(t, testenv.Root)
	stack := testenv.StackName("killed")
	dir := t.TempDir()
	component(t, dir, "a", "  health: {tcp: 7000}\nnetwork:\n  listen: [{port: 7000/tcp, from: [b]}]\nresources: {pids: 32}", "serve:tcp/7000", "sleep:")
	component(t, dir, "b", "network:\n  connect: [{to: \"a:7000/tcp\"}]\nresources: {pids: 32}", "sleep:")
	upStack(t, dir, stack, "10.80.0.0/24", []string{"a", "b"}, "")
	// A frozen component keeps its pending SIGKILL until thawed: down must thaw and end it.
	confine(t, "pause", stack, "a")
	st := status(t, stack)
	sup, alive := supervisor.Running(stack)
	if !alive {
		t.Fatal("no supervisor")
	}
	spawner := spawnerOf(sup)
	if spawner == 0 && os.Getenv("CONFINE_STAGE") != "go" { // the Go init has none
		t.Errorf("the supervisor (pid %d) has no spawner", sup)
	}
	syscall.Kill(sup, syscall.SIGKILL)
	for _, c := range st {
		if c.Name == "a" {
			continue
		}
		for i := 0; !sandbox.Gone(c.Pid); i++ {
			if i == 100 {
				syscall.Kill(c.Pid, syscall.SIGKILL)
				t.Fatalf("%s (pid %d) outlived its supervisor", c.Name, c.Pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for !testenv.Exited(sup) { // its claim is free only then
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; spawner != 0 && !sandbox.Gone(spawner); i++ {
		if i == 100 {
			syscall.Kill(spawner, syscall.SIGKILL)
			t.Fatalf("the spawner (pid %d) outlived its supervisor", spawner)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat("/run/confine/netns/" + stack); err != nil {
		t.Errorf("the killed supervisor's namespace should still be pinned for down to find: %v", err)
	}
	confine(t, "down", stack)
	assertGone(t, stack)
	if !sandbox.Gone(st["a"].Pid) {
		syscall.Kill(st["a"].Pid, syscall.SIGKILL)
		t.Errorf("the paused component (pid %d) outlived down", st["a"].Pid)
	}
}

// upStack writes a stack file over the components written to dir, brings it up with
// up -d, and takes it down at the end of the test, checking that nothing is left.
func upStack(t *testing.T, dir, name, subnet string, members []string, extra string, upArgs ...string) {
	t.Helper()
	var files []string
	for _, m := range members {
		files = append(files, m+".yaml")
	}
	path := filepath.Join(dir, "stack.yaml")
	src := fmt.Sprintf("version: 1\nname: %s\nsubnet: %s\ncomponents: [%s]\n%s", name, subnet, strings.Join(files, ", "), extra)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(upArgs, "--audit-log") {
		upArgs = append(upArgs, "--audit-log", filepath.Join(dir, "audit.log")) // not under /var/log
	}
	confine(t, append([]string{"up", "-d", path}, upArgs...)...)
	t.Cleanup(func() {
		if _, alive := supervisor.Running(name); alive {
			confine(t, "down", "--grace", "1s", name)
		}
		assertGone(t, name)
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
