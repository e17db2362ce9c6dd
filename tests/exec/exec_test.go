//go:build linux

// Package exec_test runs `confine exec` into the components of a running stack, as root
// on a real kernel: the command must see what the component sees and be allowed exactly
// what the component is, and no more.
package exec_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

var bin, probe string

func TestMain(m *testing.M) {
	testenv.Main(m, "confine-exec-", func(dir string) {
		bin, probe = filepath.Join(dir, "confine"), filepath.Join(dir, "probe")
	})
}

var stack = testenv.StackName("exectest")

type result struct {
	Probe string
	OK    bool
	Err   string
	Out   string
}

// parse reads the probe's JSON lines (a pty ends them with \r\n).
func parse(out string) map[string]result {
	res := map[string]result{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r result
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &r) == nil {
			res[r.Probe] = r
		}
	}
	return res
}

// policy writes NAME.yaml running the probe with args.
func policy(t *testing.T, dir, name, body string, args ...string) {
	t.Helper()
	quoted := []string{strconv.Quote(probe)}
	for _, a := range args {
		quoted = append(quoted, strconv.Quote(a))
	}
	src := fmt.Sprintf("version: 1\nname: %s\nrun:\n  command: [%s]\n  user: \"1000\"\n%s\nfilesystem: {read: [%s], tmpfs: [/scratch]}\nsyscalls: {extends: default}\n",
		name, strings.Join(quoted, ", "), body, probe)
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// confineExec runs confine exec and returns its stdout, stderr and exit status.
func confineExec(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, append([]string{"exec"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// logResults reads a component's own probe results, waiting until last appears.
func logResults(t *testing.T, name, last string) map[string]result {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res := parse(testenv.Run(t, bin, "logs", stack, name))
		if _, ok := res[last]; ok {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reported %s: %v", name, last, res)
		}
	}
}

func TestExec(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	dir := t.TempDir()
	// app writes a file into its own tmpfs (no other mount namespace has it), reports what
	// it is, then waits. It may call peer:9000, nothing else.
	appProbes := []string{"write:/scratch/only-here", "id", "caps:", "groups:", "status:", "ls:/", "sleep:"}
	policy(t, dir, "app", "  hostname: apphost\n  workdir: /scratch\n  groups: [\"2000\"]\nnetwork:\n  connect: [{to: \"peer:9000/tcp\"}]\ncapabilities: [NET_BIND_SERVICE]", appProbes...)
	policy(t, dir, "peer", "  health: {tcp: 9000}\nnetwork:\n  listen: [{port: 9000/tcp, from: [app]}]", "serve:tcp/9000", "sleep:")
	policy(t, dir, "locked", "  exec: false", "sleep:")
	log := filepath.Join(dir, "audit.log")
	src := fmt.Sprintf("version: 1\nname: %s\nsubnet: 10.121.4.0/24\ncomponents: [app.yaml, peer.yaml, locked.yaml]\n", stack)
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, bin, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", log)
	t.Cleanup(func() {
		if _, alive := supervisor.Running(stack); alive {
			testenv.Run(t, bin, "down", "--grace", "1s", stack)
		}
	})
	own := logResults(t, "app", "ls:/")
	if !own["write:/scratch/only-here"].OK {
		t.Fatalf("app could not write its marker: %+v", own)
	}

	t.Run("view", func(t *testing.T) { testView(t, own) })
	t.Run("network", testNetwork)
	t.Run("refusals", func(t *testing.T) { testRefusals(t, own, log) })
	t.Run("identity", func(t *testing.T) { testIdentity(t, own) })
	t.Run("exit", testExit)
	t.Run("tty", testTTY)
	t.Run("ps", testPs)
	t.Run("signal", testSignal)
	t.Run("policy", func(t *testing.T) { testPolicy(t, log) })
	t.Run("review", func(t *testing.T) { testReview(t, dir) })
}

// testReview: explain, the report and diff show run.exec: false.
func testReview(t *testing.T, dir string) {
	locked, app := filepath.Join(dir, "locked.yaml"), filepath.Join(dir, "app.yaml")
	if out := testenv.Run(t, bin, "explain", locked); !strings.Contains(out, "confine exec into it is refused (run.exec: false)") {
		t.Errorf("explain:\n%s", out)
	}
	if out := testenv.Run(t, bin, "explain", app); !strings.Contains(out, "confine exec may run a command inside it") {
		t.Errorf("explain:\n%s", out)
	}
	for _, format := range []string{"md", "html", "json"} {
		out := testenv.Run(t, bin, "audit", "report", locked, "--format", format)
		if !strings.Contains(out, "run.exec: false") && !strings.Contains(out, `"exec_refused": true`) {
			t.Errorf("the %s report does not show run.exec: false:\n%s", format, out)
		}
	}
	open := filepath.Join(dir, "open.yaml")
	data, _ := os.ReadFile(locked)
	os.WriteFile(open, bytes.Replace(data, []byte("  exec: false\n"), nil, 1), 0o644)
	cmd := exec.Command(bin, "audit", "diff", locked, open)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "confine exec") {
		t.Errorf("audit diff of allowing exec: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

// testView: the component's files, hostname, pid namespace and working directory.
func testView(t *testing.T, _ map[string]result) {
	// fds first: the probe's own runtime opens its poller on its first file read.
	out, errs, code := confineExec(t, stack, "app", "--", probe, "fds", "cat:/scratch/only-here", "hostname", "cat:/proc/1/cmdline", "cwd")
	res := parse(out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if r := res["cat:/scratch/only-here"]; !r.OK || r.Out != "x" {
		t.Errorf("the component's own tmpfs file: %+v", r)
	}
	if r := res["hostname"]; r.Out != "apphost" {
		t.Errorf("hostname: %+v", r)
	}
	// pid 1 of the command's pid namespace is the component, running its sleep probe.
	if r := res["cat:/proc/1/cmdline"]; !r.OK || !strings.Contains(r.Out, "sleep:") || !strings.Contains(r.Out, "only-here") {
		t.Errorf("pid 1 is not the component: %+v", r)
	}
	if r := res["cwd"]; r.Out != "/scratch" {
		t.Errorf("cwd: %+v", r)
	}
	// stdio and the directory the probe reads /proc/self/fd with: nothing of confine's.
	if r := res["fds"]; r.Out != "0 1 2 3" {
		t.Errorf("descriptors: %+v", r)
	}
}

// testNetwork: a connect the component may make works; others are refused.
func testNetwork(t *testing.T) {
	out, _, _ := confineExec(t, stack, "app", "--", probe, "dial:tcp/peer:9000", "dial:tcp/peer:9001", "bind:8080")
	res := parse(out)
	if r := res["dial:tcp/peer:9000"]; !r.OK || r.Out != "hello from peer" {
		t.Errorf("declared flow: %+v", r)
	}
	// app declares no connect to peer's 9001: Landlock refuses before any packet.
	if r := res["dial:tcp/peer:9001"]; r.OK || !strings.Contains(r.Err, "permission denied") {
		t.Errorf("undeclared port: %+v", r)
	}
	if r := res["bind:8080"]; r.OK {
		t.Errorf("undeclared bind: %+v", r)
	}
}

// testRefusals: the component's seccomp filter and Landlock rules hold for the command,
// and its denials reach the audit log as the component's.
func testRefusals(t *testing.T, own map[string]result, log string) {
	argv := []string{probe, "ptrace", "mount:", "ls:/", "write:" + probe, "ls:/scratch"}
	out, _, _ := confineExec(t, append([]string{stack, "app", "--"}, argv...)...)
	defer checkDenials(t, log, argv)
	res := parse(out)
	for _, p := range []string{"ptrace", "mount:"} {
		if r := res[p]; r.OK || !strings.Contains(r.Err, "operation not permitted") {
			t.Errorf("seccomp must deny %s: %+v", p, r)
		}
	}
	// / is in the view but in no rule: Landlock refuses it, as it does the component.
	if r := res["ls:/"]; r.OK || r.Err != own["ls:/"].Err || !strings.Contains(r.Err, "permission denied") {
		t.Errorf("ls / outside the rules: %+v (component: %+v)", r, own["ls:/"])
	}
	if r := res["write:"+probe]; r.OK {
		t.Errorf("a read-only path was written: %+v", r)
	}
	if r := res["ls:/scratch"]; !r.OK || !strings.Contains(r.Out, "only-here") {
		t.Errorf("a declared path: %+v", r)
	}
}

// checkDenials: the exec's seccomp and Landlock denials are in the log, attributed to
// app, by the pid its component.exec record names.
func checkDenials(t *testing.T, log string, argv []string) {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		var pid any
		layers := map[string]bool{}
		for _, r := range records {
			if r.Kind == supervisor.EventExec && fmt.Sprint(r.Details["command"]) == fmt.Sprint(argv) {
				pid = r.Details["pid"]
			}
			if r.Kind == audit.KindDenial && pid != nil && r.Details["pid"] == pid && r.Component == "app" {
				layers[fmt.Sprint(r.Details[audit.DetailLayer])] = true
			}
		}
		if layers[audit.LayerSeccomp] && layers[audit.LayerLandlock] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exec (pid %v) has denials of layers %v in the log; want seccomp and landlock", pid, layers)
		}
	}
}

// testIdentity: uid, gid, groups, capabilities, no_new_privs and seccomp equal the
// component's own.
func testIdentity(t *testing.T, own map[string]result) {
	out, _, _ := confineExec(t, stack, "app", "--", probe, "id", "caps:", "groups:", "status:")
	res := parse(out)
	for _, p := range []string{"id", "caps:", "groups:", "status:"} {
		if res[p].Out != own[p].Out || !res[p].OK {
			t.Errorf("%s: exec %+v, component %+v", p, res[p], own[p])
		}
	}
	if own["id"].Out != "1000:1000" || !strings.Contains(own["status:"].Out, "NoNewPrivs:1") {
		t.Errorf("the component itself: %+v", own)
	}
}

func testExit(t *testing.T) {
	if _, _, code := confineExec(t, stack, "app", "--", probe, "exit:7"); code != 7 {
		t.Errorf("exit status %d, want 7", code)
	}
	if _, errs, code := confineExec(t, stack, "app", "--", "/no/such/command"); code != 2 || !strings.Contains(errs, "exec") {
		t.Errorf("a missing command: exit %d, %q", code, errs)
	}
}

func testTTY(t *testing.T) {
	out, errs, code := confineExec(t, stack, "app", "--tty", "--", probe, "tty")
	r := parse(out)["tty"]
	if code != 0 || !r.OK || !strings.HasPrefix(r.Out, "/dev/pts/") {
		t.Errorf("tty: exit %d %+v (%s%s)", code, r, out, errs)
	}
	out, _, _ = confineExec(t, stack, "app", "--", probe, "tty")
	if r := parse(out)["tty"]; r.OK {
		t.Errorf("without --tty stdin is a terminal: %+v", r)
	}
}

// appExecs are the execs ps lists under app.
func appExecs(t *testing.T) []supervisor.ExecStatus {
	var list []supervisor.Status
	if err := json.Unmarshal([]byte(testenv.Run(t, bin, "ps", "--json", stack)), &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == "app" {
			return s.Execs
		}
	}
	return nil
}

// waitExecs waits until ps lists an exec under app.
func waitExecs(t *testing.T) []supervisor.ExecStatus {
	var seen []supervisor.ExecStatus
	for deadline := time.Now().Add(10 * time.Second); len(seen) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		seen = appExecs(t)
	}
	return seen
}

// testSignal: a SIGTERM to confine exec reaches the command, which goes on to exit 5.
func testSignal(t *testing.T) {
	cmd := exec.Command(bin, "exec", stack, "app", "--", probe, "term:ready", "exit:5")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	rd := bufio.NewReader(stdout)
	if line, err := rd.ReadString('\n'); line != "ready\n" {
		t.Fatalf("the probe said %q (%v)", line, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(rd)
	cmd.Wait()
	if r := parse(string(rest))["term:ready"]; cmd.ProcessState.ExitCode() != 5 || r.Out != "terminated" {
		t.Errorf("exit %d, %+v", cmd.ProcessState.ExitCode(), r)
	}
}

// testPs: ps lists a running exec under its component, and not once it has ended.
func testPs(t *testing.T) {
	cmd := exec.Command(bin, "exec", stack, "app", "--", probe, "sleep:")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	execs := func() []supervisor.ExecStatus { return appExecs(t) }
	seen := waitExecs(t)
	if len(seen) != 1 || !slices.Equal(seen[0].Command, []string{probe, "sleep:"}) || seen[0].Pid <= 0 {
		t.Fatalf("ps lists %+v", seen)
	}
	if table := testenv.Run(t, bin, "ps", stack); !strings.Contains(table, "exec: ") || !strings.Contains(table, strconv.Itoa(seen[0].Pid)) {
		t.Errorf("the ps table does not show the exec:\n%s", table)
	}
	cmd.Process.Kill() // the CLI gone, the supervisor ends the command
	cmd.Wait()
	for deadline := time.Now().Add(10 * time.Second); len(execs()) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ps still lists %+v after the CLI went away", execs())
		}
	}
	// Killed with the exec stage; its parent gone, it is the component's (pid 1's) to
	// reap, and the probe reaps nothing: a zombie, or gone.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", seen[0].Pid))
		if _, rest, _ := strings.Cut(string(stat), ") "); err != nil || strings.HasPrefix(rest, "Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command %d still runs: %s", seen[0].Pid, stat)
		}
	}
}

// testPolicy: run.exec: false refuses with exit 1; the log records refusals and argv.
func testPolicy(t *testing.T, log string) {
	_, errs, code := confineExec(t, stack, "locked", "--", probe, "id")
	if code != 1 || !strings.Contains(errs, "run.exec: false") {
		t.Errorf("locked: exit %d, %q", code, errs)
	}
	if _, errs, code := confineExec(t, stack, "nosuch", "--", probe, "id"); code != 1 || !strings.Contains(errs, "no such component") {
		t.Errorf("an unknown component: exit %d, %q", code, errs)
	}
	if _, errs, code := confineExec(t, stack, "app", probe, "id"); code != 1 || !strings.Contains(errs, "expected STACK COMPONENT -- CMD") {
		t.Errorf("without --: exit %d, %q", code, errs)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var refused, recorded bool
	for _, line := range strings.Split(string(data), "\n") {
		var rec struct {
			Component, Kind string
			Details         struct {
				Command []string
				Refused bool
			}
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Kind != supervisor.EventExec {
			continue
		}
		if rec.Component == "locked" && rec.Details.Refused && slices.Equal(rec.Details.Command, []string{probe, "id"}) {
			refused = true
		}
		if rec.Component == "app" && slices.Equal(rec.Details.Command, []string{probe, "exit:7"}) {
			recorded = true
		}
	}
	if !refused || !recorded {
		t.Errorf("the audit log lacks the refusal (%v) or the exec's argv (%v)", refused, recorded)
	}
	testenv.Run(t, bin, "audit", "verify", log)
}
