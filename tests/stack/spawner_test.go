//go:build linux

package stack_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// spawnerOf is the pid of the supervisor's spawner (sandbox.Spawner), 0 when it has none.
func spawnerOf(sup int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		var pid int
		fmt.Sscan(filepath.Base(d), &pid)
		comm, _ := os.ReadFile(d + "/comm") // its spare has its cmdline, not its name
		if cmdline, _ := os.ReadFile(d + "/cmdline"); string(cmdline) == "confine-spawner\x00" && string(comm) != "confine-spare\n" && parentOf(pid) == sup {
			return pid
		}
	}
	return 0
}

// parentOf reads pid's parent from /proc, 0 when it is gone.
func parentOf(pid int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		var ppid int
		if _, err := fmt.Sscanf(line, "PPid:\t%d", &ppid); err == nil {
			return ppid
		}
	}
	return 0
}

// TestRestartThroughSpawner: a stack's supervisor starts its components through its
// spawner, restarts too (the supervisor's trace names each a spawn, not a clone of
// itself); the restarted run's parent is the supervisor, and in it a forbidden read
// fails and an allowed one works. A spawner killed under the supervisor leaves the
// component running, and the next restart is exec.Cmd's.
func TestRestartThroughSpawner(t *testing.T) {
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
	t.Setenv("CONFINE_TRACE", "1")
	stack := testenv.StackName("spawner")
	dir := t.TempDir()
	component(t, dir, "svc", "resources: {pids: 16}", "id:", "read:/etc/passwd", "read:"+probe, "sleep:")
	upStack(t, dir, stack, "10.126.0.0/24", []string{"svc"}, "")
	sup, alive := supervisor.Running(stack)
	if !alive {
		t.Fatal("no supervisor")
	}
	sp := spawnerOf(sup)
	if sp == 0 {
		t.Fatalf("the supervisor (pid %d) has no spawner", sup)
	}
	// The spawner holds its socket and stdio, and its spare's socket when it has one,
	// not what the supervisor inherited (here from go test) for the stack's life.
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", sp))
	var held []string
	sockets := 0
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", sp, fd.Name()))
		held = append(held, fd.Name()+"="+target)
		if strings.HasPrefix(target, "socket:") && fd.Name() != "3" {
			sockets++
		}
	}
	if len(fds)-sockets != 4 || sockets > 1 {
		t.Errorf("the spawner holds %v, want 0 1 2, its socket and at most its spare's", held)
	}
	results(t, stack, "svc", "read:"+probe)
	before := status(t, stack)["svc"]
	confine(t, "restart", "--grace", "1s", stack, "svc")
	after := status(t, stack)["svc"]
	if after.State != supervisor.StateRunning || after.Pid == before.Pid {
		t.Fatalf("after restart: %+v (was pid %d)", after, before.Pid)
	}
	if got := parentOf(after.Pid); got != sup {
		t.Errorf("the restarted run's parent is %d, want the supervisor %d (spawner %d)", got, sup, sp)
	}
	if got := spawnerOf(sup); got != sp {
		t.Errorf("the spawner is %d after the restart, was %d", got, sp)
	}
	log, err := os.ReadFile(supervisor.DetachedLog(stack))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(log, []byte("confine-trace parent spawn ")); n < 2 || bytes.Contains(log, []byte("confine-trace parent clone ")) {
		t.Errorf("the supervisor's trace has %d spawns (want the start and the restart), and clones:\n%s", n, log)
	}
	runs := strings.Count(confine(t, "logs", stack, "svc"), `"probe":"read:/etc/passwd"`)
	res := results(t, stack, "svc", "read:"+probe)
	if runs < 2 || !res["id:"].OK || res["read:/etc/passwd"].OK || !res["read:"+probe].OK {
		t.Errorf("the restarted run (%d runs logged): %+v", runs, res)
	}

	// The spawner killed under the supervisor: the running component stays, and the next
	// restart is exec.Cmd's clone of the supervisor, whole.
	syscall.Kill(sp, syscall.SIGKILL)
	for i := 0; parentOf(sp) != 0; i++ { // reaped by the supervisor
		if i == 100 {
			t.Fatalf("the killed spawner %d was not reaped", sp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := status(t, stack)["svc"]; st.State != supervisor.StateRunning || st.Pid != after.Pid {
		t.Fatalf("after the spawner's death: %+v, want pid %d running", st, after.Pid)
	}
	confine(t, "restart", "--grace", "1s", stack, "svc")
	last := status(t, stack)["svc"]
	if last.State != supervisor.StateRunning || last.Pid == after.Pid || parentOf(last.Pid) != sup {
		t.Fatalf("the restart after the spawner's death: %+v (parent %d, want %d)", last, parentOf(last.Pid), sup)
	}
	if log, _ := os.ReadFile(supervisor.DetachedLog(stack)); !bytes.Contains(log, []byte("confine-trace parent clone ")) {
		t.Errorf("no clone in the supervisor's trace after the spawner's death:\n%s", log)
	}
	if res := results(t, stack, "svc", "read:"+probe); !res["id:"].OK || res["read:/etc/passwd"].OK {
		t.Errorf("the run after the spawner's death: %+v", res)
	}
}
