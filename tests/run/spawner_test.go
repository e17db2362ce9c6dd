//go:build linux

package run_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// sharedSpawner is the spawner the probe tests' launches go through (launch, launchErr,
// launchKept), as a stack's do: started on first use, nil without root or with
// CONFINE_STAGE=go, when exec.Cmd starts them all.
var sharedSpawner = sync.OnceValue(func() *sandbox.Spawner {
	sp, _ := sandbox.StartSpawner()
	shared.Store(sp)
	return sp
})

// shared is sharedSpawner's spawner once started: its spare, which it clones 20 ms after
// each start it serves, is this test process's child, not a run's left-over (newChildren).
var shared atomic.Pointer[sandbox.Spawner]

// startSpawner starts a spawner for one test, closed at its end.
func startSpawner(t *testing.T) *sandbox.Spawner {
	t.Helper()
	testenv.Require(t, testenv.Root)
	if os.Getenv("CONFINE_STAGE") == "go" {
		// The Go init's pass (make test's second tests/run): no spawner may exist there,
		// or that pass would not run the Go init it is for.
		if sp, err := sandbox.StartSpawner(); err == nil {
			sp.Close()
			t.Fatal("CONFINE_STAGE=go started a spawner")
		}
		t.Skip("CONFINE_STAGE=go: every start is exec.Cmd's Go init, checked above; the spawner runs the C stage only")
	}
	sp, err := sandbox.StartSpawner()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	return sp
}

// launchWith launches c with opts and returns the running sandbox and its output.
func launchWith(t *testing.T, c *plan.Component, opts sandbox.Options) (*sandbox.Sandbox, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.Stdout, opts.Stderr = &stdout, &stderr
	sb, err := sandbox.Launch(context.Background(), c, opts, nil)
	if err != nil {
		t.Fatalf("launch: %v\nstderr: %s", err, stderr.String())
	}
	return sb, &stdout
}

// statusLines are the lines of /proc/self/status that say what the process is: its ids,
// groups, capabilities, signal mask and dispositions, no_new_privs and seccomp.
func statusLines(text string) string {
	var keep []string
	for _, line := range strings.Split(text, "\n") {
		for _, p := range []string{"Uid:", "Gid:", "Groups:", "Cap", "SigBlk:", "SigIgn:", "NoNewPrivs:", "Seccomp:", "NSpid:"} {
			if strings.HasPrefix(line, p) {
				keep = append(keep, strings.Join(strings.Fields(line), " "))
			}
		}
	}
	return strings.Join(keep, "\n")
}

// TestSpawner: a component the spawner made is what exec.Cmd makes. Its parent is the
// supervisor while it runs; it gets the same identity, descriptors, capabilities, signal
// state, seccomp and no_new_privs, and is refused the same things, allowed the same.
func TestSpawner(t *testing.T) {
	sp := startSpawner(t)
	probes := []string{"id:", "hostname:", "groups:", "cwd:", "env:", "fds:", "cat:/proc/self/status",
		"read:" + probeDir + "/probe", "read:/etc/passwd", "mount:/tmp", "sethostname:x", "unshare:",
		"rawsocket:", "ptrace:", "cat:/proc/self/uid_map"}
	c := compile(t, "resources: {pids: 16}\n", probes...)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	outs := map[bool]map[string]result{}
	for _, spawned := range []bool{true, false} {
		opts := sandbox.Options{}
		if spawned {
			opts.Spawner = sp
		}
		sb, out := launchWith(t, c, opts)
		if got, err := sb.Spawned(); got != spawned || err != nil {
			t.Fatalf("spawned %v (%v), want %v", got, err, spawned)
		}
		uid, _ := sb.HostIDs()
		if code, err := sb.Wait(); code != 0 || err != nil {
			t.Fatalf("spawned %v: exit %d, %v", spawned, code, err)
		}
		res := results(out.String())
		if m := res["cat:/proc/self/uid_map"]; strings.Join(strings.Fields(m.Out), " ") != fmt.Sprintf("0 %d 65536", uid) {
			t.Errorf("spawned %v: uid_map %+v, want 0 %d 65536", spawned, m, uid)
		}
		outs[spawned] = res
	}
	for _, p := range probes[:len(probes)-1] {
		a, b := outs[true][p], outs[false][p]
		if p == "cat:/proc/self/status" {
			a.Out, b.Out = statusLines(a.Out), statusLines(b.Out)
		}
		if a != b {
			t.Errorf("%s: spawned %+v, exec.Cmd %+v", p, a, b)
		}
	}
	for p, allowed := range map[string]bool{"id:": true, "read:" + probeDir + "/probe": true, "read:/etc/passwd": false,
		"mount:/tmp": false, "sethostname:x": false, "unshare:": false, "rawsocket:": false, "ptrace:": false} {
		if r := outs[true][p]; r.OK != allowed {
			t.Errorf("spawned: %s: %+v, want allowed=%v", p, r, allowed)
		}
	}
	if r := outs[true]["fds:"]; r.Out != "0 1 2 3" {
		t.Errorf("spawned: descriptors %q, want 0 1 2 3 (the probe's own is 3)", r.Out)
	}

	// While it runs, its parent is this process (CLONE_PARENT), not the spawner.
	sb, _ := launchWith(t, compile(t, "", "sleep:"), sandbox.Options{Spawner: sp})
	defer sb.Kill()
	if got := parentOf(t, sb.Pid()); got != os.Getpid() {
		t.Errorf("the spawned component's parent is %d, want the supervisor %d (the spawner is %d)", got, os.Getpid(), sp.Pid())
	}
	sb.Signal(syscall.SIGKILL)
	if code, err := sb.Wait(); code != 128+int(syscall.SIGKILL) || err != nil {
		t.Errorf("killed: exit %d, %v", code, err)
	}
}

// TestSpawnerGone: a spawner killed under the supervisor takes none of its components
// with it, and the next start falls back to exec.Cmd, whole.
func TestSpawnerGone(t *testing.T) {
	sp := startSpawner(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, _ := launchWith(t, compile(t, "", "sleep:"), sandbox.Options{Spawner: sp})
	defer sb.Kill()
	if got, _ := sb.Spawned(); !got {
		t.Fatal("the spawner did not make the component")
	}
	syscall.Kill(sp.Pid(), syscall.SIGKILL)
	// Started at once, before or after the supervisor has seen it exit: either way
	// exec.Cmd starts it.
	c := compile(t, "", "id:", "read:/etc/passwd")
	next, out := launchWith(t, c, sandbox.Options{Spawner: sp})
	got, why := next.Spawned()
	if code, err := next.Wait(); code != 0 || err != nil {
		t.Fatalf("after the spawner's death: exit %d, %v", code, err)
	}
	if got {
		t.Error("a dead spawner made a component")
	}
	t.Logf("the fallback's reason: %v", why)
	res := results(out.String())
	if !res["id:"].OK || res["read:/etc/passwd"].OK {
		t.Errorf("the fallback's probes: %+v", res)
	}
	select {
	case <-sp.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("the killed spawner was not reaped")
	}
	if sandbox.Gone(sb.Pid()) {
		t.Error("the component died with its spawner")
	}
	if got := parentOf(t, sb.Pid()); got != os.Getpid() {
		t.Errorf("the component's parent is %d after the spawner's death, want %d", got, os.Getpid())
	}
}

// parentOf reads pid's parent from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		var ppid int
		if _, err := fmt.Sscanf(line, "PPid:\t%d", &ppid); err == nil {
			return ppid
		}
	}
	t.Fatalf("no PPid in /proc/%d/status", pid)
	return 0
}

// killAtSendEnv ("PID N"), in this test binary's environment, makes it a tracer that
// kills process PID at its Nth sendto(2): the spawner's first is its answer to a
// request, its second the byte that lets the child go on.
const killAtSendEnv = "CONFINE_TEST_KILL_AT_SEND"

func init() {
	if v := os.Getenv(killAtSendEnv); v != "" {
		os.Exit(killAtSend(v))
	}
}

// killAtSend traces pid (a separate process: the supervisor's own waits would take its
// stops) and SIGKILLs it at the entry of its Nth sendto, before the call runs.
func killAtSend(v string) int {
	var pid, n int
	fmt.Sscan(v, &pid, &n)
	runtime.LockOSThread() // ptrace's requests come from the tracing thread
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "tracer:", err); return 1 }
	if err := unix.PtraceSeize(pid); err != nil {
		return fail(err)
	}
	if err := unix.PtraceInterrupt(pid); err != nil {
		return fail(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return fail(err)
	}
	fmt.Println("attached")
	for {
		if err := unix.PtraceSyscall(pid, 0); err != nil {
			return fail(err)
		}
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || ws.Exited() || ws.Signaled() {
			return fail(fmt.Errorf("the traced process ended (%v)", err))
		}
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		if f := strings.Fields(string(data)); len(f) > 0 && f[0] == strconv.Itoa(unix.SYS_SENDTO) {
			if n--; n == 0 {
				unix.Kill(pid, unix.SIGKILL)
				return 0
			}
			// The call's exit stop: its number shows there too.
			if err := unix.PtraceSyscall(pid, 0); err != nil {
				return fail(err)
			}
			if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
				return fail(err)
			}
		}
	}
}

// traceSpawner starts the tracer that kills sp at its nth sendto, once it is attached.
func traceSpawner(t *testing.T, sp *sandbox.Spawner, n int) (tracer *exec.Cmd, tracerErr *bytes.Buffer) {
	t.Helper()
	tracer = exec.Command("/proc/self/exe")
	tracer.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d", killAtSendEnv, sp.Pid(), n))
	tracerErr = &bytes.Buffer{}
	tracer.Stderr = tracerErr
	stdout, err := tracer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tracer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tracer.Process.Kill() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "attached\n" {
		tracer.Wait()
		t.Fatalf("the tracer: %q, %v: %s", line, err, tracerErr.String())
	}
	return tracer, tracerErr
}

// childrenOf lists the processes whose parent is pid, with their state (R, S, Z, ...).
func childrenOf(pid int) map[int]string {
	kids := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		i := bytes.LastIndexByte(data, ')')
		if err != nil || i < 0 {
			continue
		}
		var state string
		var child, ppid int
		fmt.Sscan(filepath.Base(filepath.Dir(d)), &child)
		if _, err := fmt.Sscan(string(data[i+1:]), &state, &ppid); err == nil && ppid == pid {
			kids[child] = state
		}
	}
	return kids
}

// TestSpawnerKilledBeforeItsAnswer: a spawner killed after its clone but before the
// supervisor has the child's pid leaves no second child: the one it cloned never goes
// on to read the descriptors the fallback's exec.Cmd child gets as well (the program,
// the go signal, the mounts), and exits; the fallback starts the component whole.
func TestSpawnerKilledBeforeItsAnswer(t *testing.T) {
	before := childrenOf(os.Getpid())
	sp := startSpawner(t)
	waitRecvmsg(t, sp.Pid(), 3) // its spare is made and announced: its sends are counted from here
	tracer, tracerErr := traceSpawner(t, sp, 1)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// A start that hangs (a second child took its program) fails instead: its new
	// processes, ours all, are killed.
	guard := time.AfterFunc(time.Minute, func() {
		for pid := range childrenOf(os.Getpid()) {
			if _, ok := before[pid]; !ok {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	next, out := launchWith(t, compile(t, "", "id:", "read:/etc/passwd"), sandbox.Options{Spawner: sp})
	guard.Stop()
	defer next.Kill()
	if err := tracer.Wait(); err != nil {
		t.Fatalf("the tracer did not kill the spawner at its answer: %v: %s", err, tracerErr.String())
	}
	got, why := next.Spawned()
	code, err := next.Wait()
	if got || code != 0 || err != nil {
		t.Fatalf("spawned %v (%v), exit %d, %v", got, why, code, err)
	}
	if res := results(out.String()); !res["id:"].OK || res["read:/etc/passwd"].OK {
		t.Errorf("the fallback's probes: %+v", res)
	}
	// The clone the spawner made, its spare: the start never had its pid, and it must end
	// on its own; the Spawner, told of it, reaps it at Close.
	clones := 0
	for pid := range childrenOf(os.Getpid()) {
		if _, ok := before[pid]; ok || pid == tracer.Process.Pid || pid == sp.Pid() {
			continue
		}
		clones++
		for i := 0; childrenOf(os.Getpid())[pid] != "Z" && !sandbox.Gone(pid); i++ {
			if i == 500 {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				t.Fatalf("a second child %d (%q) runs beside the fallback's", pid, cmdline)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if clones != 1 {
		t.Errorf("%d children left beside the fallback's, want the spawner's one clone", clones)
	}
	sp.Close()
	for pid, state := range childrenOf(os.Getpid()) {
		if _, ok := before[pid]; !ok && pid != tracer.Process.Pid {
			t.Errorf("child %d (%s) is left after Close", pid, state)
		}
	}
}

// noCloseRangeEnv makes TestSpawnerStageDescriptors refuse close_range(2) (ENOSYS) to
// this process and all it starts, as Linux 5.3 to 5.8 do, which have clone3.
const noCloseRangeEnv = "CONFINE_TEST_NO_CLOSE_RANGE"

// waitRecvmsg waits until pid blocks in recvmsg(2) on fd.
func waitRecvmsg(t *testing.T, pid, fd int) {
	t.Helper()
	want := fmt.Sprintf("%d %#x ", unix.SYS_RECVMSG, fd)
	for i := 0; ; i++ {
		if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid)); strings.HasPrefix(string(data), want) {
			return
		}
		if i == 500 {
			t.Fatalf("%d never waited in recvmsg on %d", pid, fd)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stageFDs waits for pid's init stage to wait for the go signal (recvmsg on fd 5) and
// lists its descriptors, each with what it is (pipe, socket, file).
func stageFDs(t *testing.T, pid int) string {
	t.Helper()
	waitRecvmsg(t, pid, 5)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		kind, _, _ := strings.Cut(target, ":[") // pipe:[123] -> pipe
		fds = append(fds, e.Name()+"="+kind)
	}
	return strings.Join(fds, " ")
}

// TestSpawnerStageDescriptors: the init stage the spawner made holds no descriptor
// exec.Cmd's does not: no spawner socket, no received copy, no cgroup
// directory, no end of its own go-on socket (which would keep it from ever seeing EOF).
func TestSpawnerStageDescriptors(t *testing.T) {
	testenv.Require(t, testenv.Root)
	if os.Getenv(noCloseRangeEnv) != "" {
		refuseSyscall(t, unix.SYS_CLOSE_RANGE, unix.SECCOMP_FILTER_FLAG_TSYNC) // this process is the test's own
		if err := unix.CloseRange(100, 100, 0); err != unix.ENOSYS {
			t.Fatalf("close_range: %v, want ENOSYS", err)
		}
	}
	sp := startSpawner(t)
	c := compile(t, "resources: {pids: 16}\n", "fds:")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fds := map[bool]string{}
	for _, spawned := range []bool{true, false} {
		opts := sandbox.Options{Attach: func(sb *sandbox.Sandbox) error {
			fds[spawned] = stageFDs(t, sb.Pid())
			return nil
		}}
		if spawned {
			opts.Spawner = sp
		}
		sb, out := launchWith(t, c, opts)
		if got, err := sb.Spawned(); got != spawned || err != nil {
			t.Fatalf("spawned %v (%v), want %v", got, err, spawned)
		}
		if code, err := sb.Wait(); code != 0 || err != nil {
			t.Fatalf("spawned %v: exit %d, %v", spawned, code, err)
		}
		if r := results(out.String())["fds:"]; r.Out != "0 1 2 3" {
			t.Errorf("spawned %v: the component's descriptors %q, want 0 1 2 3", spawned, r.Out)
		}
	}
	// exec.Cmd's also has what this process left inheritable (the stage closes those
	// before the component's exec): the spawner's may have no more than it.
	cmds := strings.Fields(fds[false])
	var extra []string
	for _, fd := range strings.Fields(fds[true]) {
		if !slices.Contains(cmds, fd) {
			extra = append(extra, fd)
		}
	}
	if len(extra) > 0 {
		t.Errorf("the spawned init stage also holds %v: spawned %s, exec.Cmd %s", extra, fds[true], fds[false])
	}
}

// TestSpawnerWithoutCloseRange runs TestSpawnerStageDescriptors where close_range(2) is
// refused: the spawner's child closes what it must the slow way.
func TestSpawnerWithoutCloseRange(t *testing.T) {
	testenv.Require(t, testenv.Root)
	if os.Getenv(noCloseRangeEnv) != "" || os.Getenv("CONFINE_STAGE") == "go" {
		t.Skip("running inside it, or the Go init, which has no spawner")
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^TestSpawnerStageDescriptors$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), noCloseRangeEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestSpawnerStageDescriptors")) {
		t.Fatalf("without close_range: %v\n%s", err, out)
	}
}

// TestSpawnerPid: the spawner's pid is set when StartSpawner returns (0 would make a
// kill of it one of the whole process group); run under -race, it is ordered too.
func TestSpawnerPid(t *testing.T) {
	sp := startSpawner(t)
	pid := sp.Pid()
	// exec.Cmd's Start returns once the exec is past its point of no return (the close
	// of its CLOEXEC pipe), before the kernel has set the new arguments: until then the
	// command line reads empty.
	var cmdline []byte
	for deadline := time.Now().Add(2 * time.Second); pid > 0 && len(cmdline) == 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		cmdline, _ = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	}
	if pid <= 0 || string(cmdline) != "confine-spawner\x00" {
		t.Fatalf("Pid() is %d (%q), not the spawner", pid, cmdline)
	}
}

// TestSpawnerInherits: the spawner holds its socket and /dev/null stdio, none of the
// descriptors the supervisor's caller left inheritable, which exec.Cmd hands on to every
// child: the spawner lives as long as the stack.
func TestSpawnerInherits(t *testing.T) {
	testenv.Require(t, testenv.Root)
	leak, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	if _, err := unix.FcntlInt(leak.Fd(), unix.F_SETFD, 0); err != nil { // inheritable
		t.Fatal(err)
	}
	sp := startSpawner(t)
	waitRecvmsg(t, sp.Pid(), 3) // serving: the constructor has run
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", sp.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", sp.Pid(), e.Name()))
		if kind, _, _ := strings.Cut(target, ":["); e.Name() != "3" && kind == "socket" {
			continue // its end of its spare's socket
		}
		fds = append(fds, e.Name())
	}
	if got := strings.Join(fds, " "); got != "0 1 2 3" {
		t.Errorf("the spawner holds %s, want 0 1 2 3 and its spare's socket (the supervisor's inheritable %d is not its)", got, leak.Fd())
	}
}

// TestSpawnerKilledAfterItsAnswer: a spawner killed after its answer but before its
// child's go-on byte: the supervisor has the child, which exits having run nothing, and
// the start fails as one whose init stage died; nothing is left of it, and the next
// start is exec.Cmd's, whole.
func TestSpawnerKilledAfterItsAnswer(t *testing.T) {
	sp := startSpawner(t)
	waitRecvmsg(t, sp.Pid(), 3) // its spare is made and announced: its sends are counted from here
	tracer, tracerErr := traceSpawner(t, sp, 2)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := childrenOf(os.Getpid())
	c := compile(t, "", "id:", "read:/etc/passwd")
	var stdout, stderr bytes.Buffer
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Spawner: sp, Stdout: &stdout, Stderr: &stderr}, nil)
	if terr := tracer.Wait(); terr != nil {
		t.Fatalf("the tracer did not kill the spawner at its second send: %v: %s", terr, tracerErr.String())
	}
	if err == nil {
		// The init stage died after the go signal was queued: it exits, having run nothing.
		spawned, _ := sb.Spawned()
		if code, werr := sb.Wait(); !spawned || code == 0 || werr != nil || stdout.Len() > 0 {
			t.Fatalf("spawned %v, exit %d, %v, output %q: want the spawned init stage's failure", spawned, code, werr, stdout.String())
		}
	}
	t.Logf("the start: %v", err)
	for pid, state := range childrenOf(os.Getpid()) {
		if _, ok := before[pid]; !ok && pid != tracer.Process.Pid {
			t.Errorf("child %d (%s) is left of the failed start", pid, state)
		}
	}
	next, out := launchWith(t, c, sandbox.Options{Spawner: sp})
	defer next.Kill()
	if got, _ := next.Spawned(); got {
		t.Error("a dead spawner made a component")
	}
	if code, err := next.Wait(); code != 0 || err != nil {
		t.Fatalf("after the spawner's death: exit %d, %v", code, err)
	}
	if res := results(out.String()); !res["id:"].OK || res["read:/etc/passwd"].OK {
		t.Errorf("the fallback's probes: %+v", res)
	}
}
