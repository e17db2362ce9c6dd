//go:build linux

// Package run_test runs components under their compiled Plans, as root on a real kernel,
// with tests/probe inside the sandbox trying each forbidden thing and its allowed twin.
package run_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// probeDir holds the probe and the confine binary, built once, readable by anyone (the
// rootless test runs confine as uid 1000).
var probeDir, confineBin string

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		sandbox.Init()
	}
	testenv.Main(m, "confine-probe-", func(dir string) {
		confineBin = filepath.Join(dir, "confine")
		probeDir = dir
	})
}

type result struct {
	Probe string
	OK    bool
	Err   string
	Out   string
}

// compile builds a Plan for a component that runs the probe with args.
func compile(t *testing.T, extra string, args ...string) *plan.Component {
	t.Helper()
	quoted := []string{`"` + probeDir + `/probe"`}
	for _, a := range args {
		quoted = append(quoted, `"`+a+`"`)
	}
	src := "version: 1\nname: probe\nrun: {command: [" + strings.Join(quoted, ", ") + "], user: \"1000:1000\", env: {GREETING: hi}}\n" +
		"filesystem:\n  read: [" + probeDir + "]\n" + extra
	if !strings.Contains(extra, "syscalls:") {
		src += "syscalls: {extends: default}\n"
	}
	fsys := fstest.MapFS{"probe.yaml": {Data: []byte(src)}}
	s, err := policy.Open(fsys, "probe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return &p.Components[0]
}

// launch runs c to its end and returns its host pid, exit status and output.
func launch(t *testing.T, c *plan.Component) (pid, code int, out string) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var stdout, stderr bytes.Buffer
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Stdout: &stdout, Stderr: &stderr, Spawner: sharedSpawner()}, nil)
	if err != nil {
		t.Fatalf("launch: %v\nstderr: %s", err, stderr.String())
	}
	code, err = sb.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return sb.Pid(), code, stdout.String()
}

// run starts the component, lets it go and returns its probe results and exit status.
func run(t *testing.T, c *plan.Component) (map[string]result, int) {
	t.Helper()
	_, code, out := launch(t, c)
	return results(out), code
}

// results reads the probe's JSON lines.
func results(out string) map[string]result {
	res := map[string]result{}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r result
		if dec.Decode(&r) != nil {
			return res
		}
		res[r.Probe] = r
	}
}

func TestRunBasics(t *testing.T) {
	testenv.Require(t, testenv.Root)
	c := compile(t, "", "id:", "hostname:", "env:", "cwd:", "pid:", "fds:", "ls:/", "read:"+probeDir+"/probe", "exit:7")
	res, code := run(t, c)
	if code != 7 {
		t.Errorf("exit status %d, want 7", code)
	}
	want := map[string]string{"id:": "1000:1000", "hostname:": "probe", "env:": "GREETING=hi", "cwd:": "/", "pid:": "1", "fds:": "0 1 2 3"}
	for probe, w := range want {
		if r := res[probe]; !r.OK || r.Out != w {
			t.Errorf("%s: %+v, want %q", probe, r, w)
		}
	}
	if r := res["read:"+probeDir+"/probe"]; !r.OK {
		t.Errorf("reading the declared path failed: %+v", r)
	}
	t.Logf("root holds: %s", res["ls:/"].Out)
}

// TestForbiddenAndAllowed pairs every forbidden probe with an allowed twin where there is one.
func TestForbiddenAndAllowed(t *testing.T) {
	testenv.Require(t, testenv.Root)
	data := t.TempDir()
	os.Chown(data, 1000, 1000)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s"), 0o644)
	os.Symlink(secret, filepath.Join(data, "escape")) // a link out of a bind mount
	// A server on the host's loopback, which the sandbox must not reach.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	extra := "  write: [" + data + "]\n  tmpfs: [/scratch]\nnetwork:\n  listen:\n    - port: 8080/tcp\n      from: [127.0.0.1]\nresources: {nofile: 64}\n"
	allowed := []string{
		"fds:", "write:" + data + "/ok", "write:/scratch/ok", "read:/dev/null", "read:/proc/self/status", "bind:8080", "status:",
	}
	forbidden := []string{
		"write:" + probeDir + "/x",        // a read path is read-only
		"write:/x",                        // the root holds only mount points
		"read:" + secret,                  // undeclared paths do not exist
		"read:/etc/passwd",                // nor does the host's /etc
		"read:/proc/kcore",                // masked
		"write:/proc/sysrq-trigger",       // read-only
		"mount:/scratch",                  // seccomp and no CAP_SYS_ADMIN
		"unshare:",                        // seccomp
		"sethostname:evil",                // seccomp and capabilities
		"ptrace:",                         // seccomp
		"rawsocket:",                      // no CAP_NET_RAW
		"bind:9090",                       // Landlock: only the declared port
		"mknod:" + data + "/null",         // seccomp (and Landlock make_char)
		"kill:1",                          // pid 1 of this namespace is the probe itself: allowed below
		"syscall:321",                     // bpf
		"syscall:298",                     // perf_event_open
		"syscall:323",                     // userfaultfd
		"syscall:425",                     // io_uring_setup
		"syscall:250",                     // keyctl
		"syscall:304",                     // open_by_handle_at
		"syscall:227",                     // clock_settime
		"pivot_root:",                     // seccomp
		"read:" + data + "/escape",        // the link resolves inside the sandbox
		"connect:" + l.Addr().String(),    // the host's loopback is another namespace's
		"kill:" + fmt.Sprint(os.Getpid()), // a process outside: not in this pid namespace
		"read:/dev/tty",                   // no controlling terminal without --tty
		"write:/proc/1/exe",               // the running binary cannot be overwritten
	}
	c := compile(t, extra, append(allowed, forbidden...)...)
	res, code := run(t, c)
	if code != 0 {
		t.Errorf("probe exit status %d", code)
	}
	for _, p := range allowed {
		if r, ok := res[p]; !ok || !r.OK {
			t.Errorf("allowed %s failed: %+v", p, r)
		}
	}
	// setuid binaries grant nothing, the filter is in place, and no descriptor leaked
	// (3 is the probe's own, reading /proc/self/fd).
	if got := res["status:"].Out; got != "NoNewPrivs:1 Seccomp:2" {
		t.Errorf("status: %q", got)
	}
	if got := res["fds:"].Out; got != "0 1 2 3" {
		t.Errorf("descriptors: %q, want 0 1 2 3", got)
	}
	for _, p := range forbidden {
		r, ok := res[p]
		if p == "kill:1" {
			if !r.OK {
				t.Errorf("signalling itself failed: %+v", r)
			}
			continue
		}
		if !ok || r.OK {
			t.Errorf("forbidden %s succeeded: %+v", p, r)
		} else {
			t.Logf("%s: %s", p, r.Err)
		}
	}
}

// A component that names capabilities keeps exactly those, as ambient ones for uid 1000;
// one without binds its declared low port all the same.
func TestCapabilities(t *testing.T) {
	testenv.Require(t, testenv.Root)
	c := compile(t, "capabilities: [NET_BIND_SERVICE]\nnetwork:\n  listen:\n    - port: 80/tcp\n      from: [127.0.0.1]\n", "caps:", "bind:80")
	res, _ := run(t, c)
	if r := res["bind:80"]; !r.OK {
		t.Errorf("binding port 80 with NET_BIND_SERVICE failed: %+v", r)
	}
	// CAP_NET_BIND_SERVICE is bit 10: 0x400 in every set but the bounding set's.
	if out := res["caps:"].Out; !strings.Contains(out, "CapEff:0000000000000400") || !strings.Contains(out, "CapBnd:0000000000000400") || !strings.Contains(out, "CapAmb:0000000000000400") {
		t.Errorf("capability sets: %s", out)
	}
	// Without it, a declared low port still binds (ip_unprivileged_port_start is 0 in the
	// component's own network namespace), and an undeclared one does not (Landlock).
	c = compile(t, "network:\n  listen:\n    - port: 80/tcp\n      from: [127.0.0.1]\n", "caps:", "bind:80", "bind:81")
	res, _ = run(t, c)
	if r := res["bind:80"]; !r.OK {
		t.Errorf("binding the declared port 80 without NET_BIND_SERVICE failed: %+v", r)
	}
	if r := res["bind:81"]; r.OK {
		t.Error("bound the undeclared port 81")
	}
	if out := res["caps:"].Out; !strings.Contains(out, "CapEff:0000000000000000") || !strings.Contains(out, "CapBnd:0000000000000000") {
		t.Errorf("capability sets: %s", out)
	}
}

// TestResourceLimits: a fork bomb stops at the pids limit, an allocation past the memory
// limit is killed, and the cgroup is gone afterwards.
func TestResourceLimits(t *testing.T) {
	testenv.Require(t, testenv.Root)
	c := compile(t, "resources: {pids: 64, memory: 64Mi}\n", "fork:4", "fork:200")
	res, _ := run(t, c)
	if r := res["fork:4"]; !r.OK {
		t.Errorf("4 children under pids 64 failed (Go threads count too): %+v", r)
	}
	if r := res["fork:200"]; r.OK {
		t.Errorf("200 children under pids 64 all started: %+v", r)
	}
	c = compile(t, "resources: {memory: 64Mi}\n", "alloc:16", "alloc:256")
	res, code := run(t, c)
	if r := res["alloc:16"]; !r.OK {
		t.Errorf("16 MiB under 64Mi failed: %+v", r)
	}
	if code != 128+9 {
		t.Errorf("256 MiB under 64Mi: exit status %d, want 137 (killed by the OOM killer)", code)
	}
	assertNoCgroups(t)
}

// assertNoCgroups checks that no component cgroup is left under confine's parent.
// Only this process's cgroups count (NAME-SUPERVISOR-N): tests/stack runs beside it.
func assertNoCgroups(t *testing.T) {
	t.Helper()
	mine := fmt.Sprintf("-%d-", os.Getpid())
	for _, dir := range []string{"/sys/fs/cgroup/memory/confine", "/sys/fs/cgroup/pids/confine", "/sys/fs/cgroup/cpu/confine", "/sys/fs/cgroup/freezer/confine", "/sys/fs/cgroup/confine"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && strings.Contains(e.Name(), mine) {
				t.Errorf("cgroup left behind: %s/%s", dir, e.Name())
			}
		}
	}
}

// ownRoots lists the sandbox root directories this test process made (sandbox.Start names
// them confine-root-PID-*): other suites on the host make theirs at the same time.
func ownRoots() []string {
	dirs, _ := filepath.Glob(filepath.Join(sandbox.RootsDir(), fmt.Sprintf("confine-root-%d-*", os.Getpid())))
	return dirs
}

// TestFailurePartWayLeavesNothing breaks set-up at the cgroup and at the firewall, after
// the init stage has started: no process, cgroup or root directory may remain.
func TestFailurePartWayLeavesNothing(t *testing.T) {
	testenv.Require(t, testenv.Root)
	for name, breakIt := range map[string]func(*plan.Component){
		"cgroups":  func(c *plan.Component) { c.Cgroup.CPUPeriod = 1 }, // below the kernel's minimum
		"nftables": func(c *plan.Component) { c.Net.Firewall.Family = "bridge" },
	} {
		c := compile(t, "resources: {pids: 16, memory: 64Mi, cpu: 0.5}\n", "pid:")
		breakIt(c)
		before := ownRoots()
		runtime.LockOSThread()
		_, err := sandbox.Launch(context.Background(), c, sandbox.Options{}, nil)
		runtime.UnlockOSThread()
		var se *sandbox.StepError
		if !errors.As(err, &se) || se.Step != name {
			t.Errorf("%s: got %v, want a StepError at %s", name, err, name)
		}
		if after := ownRoots(); len(after) > len(before) {
			t.Errorf("%s: root directory left behind: %v", name, after)
		}
		assertNoCgroups(t)
		out, _ := exec.Command("pgrep", "-f", probeDir).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("%s: processes left behind: %s", name, out)
		}
	}
}

// TestCLIRun drives `confine run`: the exit status passes through, --timeout kills, a
// command that cannot be executed is an enforcement failure (exit 2).
func TestCLIRun(t *testing.T) {
	testenv.Require(t, testenv.Root)
	bin := confineBin
	dir := t.TempDir()
	write := func(name, command string) string {
		src := "version: 1\nname: cli\nrun: {command: [" + command + "]}\nfilesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\n"
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	probe := `"` + probeDir + `/probe"`
	for _, tc := range []struct {
		name, command string
		args          []string
		code          int
		stderr        string
	}{
		{"status", probe, []string{"--", "exit:5"}, 5, ""},
		{"timeout", probe, []string{"--timeout", "300ms", "--grace", "200ms", "--", "term:ignore"}, 137, ""},
		{"missing", `"` + probeDir + `/nope"`, nil, 2, "enforcement failed at exec"},
	} {
		args := append([]string{"run", write(tc.name+".yaml", tc.command)}, tc.args...)
		if code, stderr := exitOf(exec.Command(bin, args...)); code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", tc.name, code, tc.code, stderr, tc.stderr)
		}
	}
	testCLIPlan(t, bin, dir, write("plan.yaml", probe))
}

// exitOf runs cmd and returns its exit status and standard error.
func exitOf(cmd *exec.Cmd) (int, string) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	return 0, stderr.String()
}

// testCLIPlan runs a compiled Plan with --plan: the status passes through as with the
// YAML, a Plan whose seccomp program was altered is refused (exit 1), and CONFINE_TRACE=1
// times the init stage's steps too, seccomp last.
func testCLIPlan(t *testing.T, bin, dir, policyFile string) {
	t.Helper()
	planJSON, err := exec.Command(bin, "compile", policyFile, "--format", "json").Output()
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	good := filepath.Join(dir, "plan.json")
	os.WriteFile(good, planJSON, 0o644)
	var p plan.Plan
	if err := json.Unmarshal(planJSON, &p); err != nil {
		t.Fatal(err)
	}
	p.Components[0].Seccomp.Program = p.Components[0].Seccomp.Program[8:] // one instruction fewer
	altered, _ := json.Marshal(p)
	bad := filepath.Join(dir, "altered.json")
	os.WriteFile(bad, altered, 0o644)
	// Decoded while the binary starts (cmd/confine/internal/planahead): its error is
	// still the strict decoder's.
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, bytes.Replace(planJSON, []byte(`"version": 1,`), []byte(`"version": 1, "surprise": 1,`), 1), 0o644)
	// A string that is not printable ASCII is checked as before (readPlan skips the check
	// only for a Plan the fast path found all printable): raw, and escaped.
	var q plan.Plan
	json.Unmarshal(planJSON, &q)
	q.Components[0].Process.Hostname += "\u202e"
	bidi, _ := json.Marshal(q)
	rawBidi := filepath.Join(dir, "bidi.json")
	os.WriteFile(rawBidi, bidi, 0o644)
	escapedBidi := filepath.Join(dir, "bidi-escaped.json")
	os.WriteFile(escapedBidi, bytes.Replace(bidi, []byte("\u202e"), []byte(`\u202e`), 1), 0o644)
	for _, tc := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		stderr string
	}{
		{"plan", []string{"--plan", good, "--", "exit:7"}, nil, 7, ""},
		{"altered plan", []string{"--plan", bad, "--", "exit:7"}, nil, 1, "does not match its program_sha256"},
		{"unknown field", []string{"--plan", unknown, "--", "exit:7"}, nil, 1, `unknown field "surprise"`},
		{"bidi", []string{"--plan", rawBidi, "--", "exit:7"}, nil, 1, "Components[0].Process.Hostname: contains a bidirectional control (U+202E)"},
		{"escaped bidi", []string{"--plan", escapedBidi, "--", "exit:7"}, nil, 1, "Components[0].Process.Hostname: contains a bidirectional control (U+202E)"},
		{"plan and file", []string{"--plan", good, policyFile}, nil, 1, "takes no FILE"},
		{"trace", []string{"--plan", good, "--", "exit:0"}, []string{"CONFINE_TRACE=1"}, 0, "confine-trace init   seccomp"},
	} {
		cmd := exec.Command(bin, append([]string{"run"}, tc.args...)...)
		cmd.Env = append(os.Environ(), tc.env...)
		if code, stderr := exitOf(cmd); code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q)", tc.name, code, tc.code, stderr, tc.stderr)
		}
	}
}

// TestRootfs runs from a rootfs directory: the rootfs is read-only, declared write paths
// inside it are writable, and Landlock keeps the undeclared rest of it out of reach.
func TestRootfs(t *testing.T) {
	testenv.Require(t, testenv.Root)
	rootfs := t.TempDir()
	for _, d := range []string{"probe", "data", "etc"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	os.Chown(filepath.Join(rootfs, "data"), 1000, 1000)
	os.WriteFile(filepath.Join(rootfs, "etc", "secret"), []byte("s"), 0o644)
	bin, _ := os.ReadFile(filepath.Join(probeDir, "probe"))
	os.WriteFile(filepath.Join(rootfs, "probe", "probe"), bin, 0o755)
	src := `version: 1
name: rootfs
run:
  command: [/probe/probe, "read:/probe/probe", "write:/data/x", "write:/probe/x", "read:/etc/secret", "ls:/"]
  rootfs: ` + rootfs + `
  user: "1000"
filesystem: {read: [/probe], write: [/data]}
syscalls: {extends: default}
`
	s, err := policy.Open(fstest.MapFS{"r.yaml": {Data: []byte(src)}}, "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, &p.Components[0])
	for probe, allowed := range map[string]bool{"read:/probe/probe": true, "write:/data/x": true, "write:/probe/x": false, "read:/etc/secret": false, "ls:/": false} {
		if r := res[probe]; r.OK != allowed {
			t.Errorf("%s: %+v, want allowed=%v", probe, r, allowed)
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, "data", "x")); err != nil {
		t.Errorf("the write did not reach the rootfs: %v", err)
	}
}

// TestSupervisorDeathKillsComponent kills `confine run` with SIGKILL while its component
// sleeps: the component must die with it (parent-death signal, pid namespace).
func TestSupervisorDeathKillsComponent(t *testing.T) {
	testenv.Require(t, testenv.Root)
	bin := confineBin
	policyFile := filepath.Join(t.TempDir(), "sleep.yaml")
	src := "version: 1\nname: sleeper\nrun: {command: [\"" + probeDir + "/probe\", \"sleep:\"], user: \"1000\"}\nfilesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\nresources: {pids: 32}\n"
	os.WriteFile(policyFile, []byte(src), 0o644)
	cmd := exec.Command(bin, "run", policyFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var component int
	for i := 0; i < 100 && component == 0; i++ {
		time.Sleep(20 * time.Millisecond)
		out, _ := exec.Command("pgrep", "-f", probeDir+"/probe sleep:").Output()
		fmt.Sscan(string(out), &component)
	}
	if component == 0 {
		cmd.Process.Kill()
		t.Fatalf("the component never started: %s", stderr.String())
	}
	supervisor := cmd.Process.Pid
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	defer func() {
		// The next launch sweeps the killed supervisor's root directory too.
		left, _ := filepath.Glob(filepath.Join(sandbox.RootsDir(), fmt.Sprintf("confine-root-%d-*", supervisor)))
		if len(left) > 0 {
			t.Errorf("root directories of the killed supervisor survived the next launch: %v", left)
		}
	}()
	for i := 0; i < 100; i++ {
		if syscall.Kill(component, 0) != nil {
			assertNoCgroupsEventually(t, supervisor)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(component, syscall.SIGKILL)
	t.Fatalf("component %d outlived its supervisor", component)
}

// assertNoCgroupsEventually: a supervisor killed with SIGKILL cannot remove its cgroup;
// the next launch sweeps it away. The next launch is the next confine process: a
// supervisor sweeps once, at its first launch (not at every restart), so this test
// process, which has launched before, would not. Only that supervisor's cgroups
// (sleeper-PID-N) count: another copy of this suite may have a sleeper of its own running.
func assertNoCgroupsEventually(t *testing.T, supervisor int) {
	t.Helper()
	next := filepath.Join(t.TempDir(), "next.yaml")
	os.WriteFile(next, []byte("version: 1\nname: next\nrun: {command: [\""+probeDir+"/probe\", \"pid:\"], user: \"1000\"}\nfilesystem: {read: ["+probeDir+"]}\nsyscalls: {extends: default}\nresources: {pids: 32}\n"), 0o644)
	if out, err := exec.Command(confineBin, "run", next).CombinedOutput(); err != nil {
		t.Fatalf("the next confine run: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir("/sys/fs/cgroup/pids/confine")
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), fmt.Sprintf("sleeper-%d-", supervisor)) {
			t.Errorf("cgroup %s survived the next launch", e.Name())
		}
	}
}

// TestRootless runs `confine run` as an unprivileged user: the component's id maps to
// that user, the init stage gets its capabilities in the new user namespace, and the
// same probes hold.
func TestRootless(t *testing.T) {
	testenv.Require(t, testenv.Root) // to become an unprivileged user for the test
	dir, err := os.MkdirTemp("", "confine-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	os.Chown(data, 1000, 1000)
	bin := confineBin
	src := "version: 1\nname: rootless\nrun: {command: [\"" + probeDir + "/probe\", \"id:\", \"write:" + data + "/x\", \"mount:/x\", \"read:/etc/passwd\", \"bind:8080\", \"bind:9090\"], user: \"1000\"}\n" +
		"filesystem: {read: [" + probeDir + "], write: [" + data + "]}\nnetwork:\n  listen:\n    - port: 8080/tcp\n      from: [127.0.0.1]\nsyscalls: {extends: default}\n"
	policyFile := filepath.Join(dir, "p.yaml")
	os.WriteFile(policyFile, []byte(src), 0o644)
	cmd := exec.Command(bin, "run", policyFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, NoSetGroups: true}}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rootless run: %v\n%s", err, stderr.String())
	}
	res := results(out.String())
	for probe, allowed := range map[string]bool{"id:": true, "write:" + data + "/x": true, "bind:8080": true, "mount:/x": false, "read:/etc/passwd": false, "bind:9090": false} {
		if r := res[probe]; r.OK != allowed {
			t.Errorf("%s: %+v, want allowed=%v", probe, r, allowed)
		}
	}
	if got := res["id:"].Out; got != "1000:1000" {
		t.Errorf("id inside: %q", got)
	}
}

// TestFirewallInPlace looks into a running sandbox's network namespace: the component's
// default-drop table is there before it runs.
func TestFirewallInPlace(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables, testenv.Command("nsenter"))
	c := compile(t, "network:\n  listen:\n    - port: 8080/tcp\n      from: [10.1.2.0/24]\n  connect:\n    - to: 10.9.9.9:443/tcp\n", "sleep:")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Kill()
	out, err := exec.Command("nsenter", "--net="+sb.NetNS(), "nft", "list", "table", "inet", "confine").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	for _, want := range []string{"hook output priority filter; policy drop;", "10.1.2.0/24 . 0.0.0.0/0 . tcp . 8080", "10.9.9.9 . 0.0.0.0/0 . tcp . 443"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sandbox ruleset lacks %q:\n%s", want, out)
		}
	}
}
