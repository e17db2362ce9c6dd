//go:build linux

package stack_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// spawnerOf is the pid of the supervisor's spawner (sandbox.Spawner), 0 when it has none.
func spawnerOf(sup int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		var pid int
		fmt.Sscan(filepath.Base(d), &pid)
		if cmdline, _ := os.ReadFile(d + "/cmdline"); string(cmdline) == "confine-spawner\x00" && parentOf(pid) == sup {
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
// fails and an allowed one works.
func TestRestartThroughSpawner(t *testing.T) {
	testenv.Require(t, testenv.Root)
	if os.Getenv("CONFINE_STAGE") == "go" {
		t.Skip("the spawner runs the C stage only")
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
}
