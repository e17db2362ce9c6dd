//go:build linux

package run_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// sharedSpawner is the spawner the probe tests' launches go through (launch, launchErr,
// launchKept), as a stack's do: started on first use, nil without root or with
// CONFINE_STAGE=go, when exec.Cmd starts them all.
var sharedSpawner = sync.OnceValue(func() *sandbox.Spawner {
	sp, _ := sandbox.StartSpawner()
	return sp
})

// startSpawner starts a spawner for one test, closed at its end.
func startSpawner(t *testing.T) *sandbox.Spawner {
	t.Helper()
	testenv.Require(t, testenv.Root)
	if os.Getenv("CONFINE_STAGE") == "go" {
		t.Skip("the spawner runs the C stage only")
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
