//go:build linux

package run_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// subreaper makes this process the reaper of its descendants' orphans for the test: an
// early spawner or spare that `confine run` left behind becomes this process's child,
// alive or a zombie, which the test sees (and reaps).
func subreaper(t *testing.T) map[int]string {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	before := childrenOf(os.Getpid())
	t.Cleanup(func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		for pid := range newChildren(before) {
			syscall.Kill(pid, syscall.SIGKILL)
			reapChild(pid)
		}
	})
	return before
}

func reapChild(pid int) {
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}

// spawnersOf lists pid's children that are an early spawner or a spare, by their names.
func spawnersOf(pid int) []string {
	var found []string
	for child := range childrenOf(pid) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child))
		if name := strings.TrimSpace(string(comm)); name == "confine-spawner" || name == "confine-spare" {
			found = append(found, fmt.Sprintf("%d %s", child, name))
		}
	}
	return found
}

// skipInGoInitPass skips the early spawner's tests in make test's CONFINE_STAGE=go pass
// of tests/run, once it has checked what that pass promises instead: `confine run`
// starts its component through exec.Cmd's Go init (the trace's clone step, no spawn
// step) and no early spawner or spare is left.
func skipInGoInitPass(t *testing.T) {
	t.Helper()
	if os.Getenv("CONFINE_STAGE") != "go" {
		return
	}
	file := filepath.Join(t.TempDir(), "go.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "id:")), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subreaper(t)
	cmd := exec.Command(confineBin, "run", file)
	cmd.Env = append(os.Environ(), "CONFINE_TRACE=1")
	var trace strings.Builder
	cmd.Stderr = &trace
	if err := cmd.Run(); err != nil {
		t.Fatalf("CONFINE_STAGE=go confine run: %v\n%s", err, trace.String())
	}
	if !strings.Contains(trace.String(), "confine-trace parent clone ") || strings.Contains(trace.String(), "confine-trace parent spawn ") {
		t.Fatalf("CONFINE_STAGE=go: want exec.Cmd's clone, no spawn\n%s", trace.String())
	}
	if left := newChildren(before); len(left) > 0 {
		t.Fatalf("CONFINE_STAGE=go confine run left %v", left)
	}
	t.Skip("CONFINE_STAGE=go: the run went through exec.Cmd's Go init, checked above; the early spawner runs the C stage only")
}

// TestEarlySpawner: `confine run` as root forks its spawner before the Go runtime, and
// leaves no process behind on any path. A run that can use it starts through it (the
// trace's spawn step), and the spawner is gone while the component runs; one that
// cannot (audit mode: the Go init, exec.Cmd's) has it gone before its component runs; a
// bad policy and --help leave nothing either.
func TestEarlySpawner(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	good := write("good.yaml", probePolicy("", "id:", "pause:300ms", "read:/etc/passwd"))
	audit := write("audit.yaml", probePolicy("mode: audit\n", "id:", "pause:300ms"))
	bad := write("bad.yaml", "version: 1\nname: bad\nrun: {command: [/x]}\nfilesystem: {read: 7}\n")
	before := subreaper(t)
	left := func(what string) {
		t.Helper()
		for pid, state := range newChildren(before) {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			t.Errorf("%s: process %d (%s, %s) left behind", what, pid, strings.TrimSpace(string(comm)), state)
			syscall.Kill(pid, syscall.SIGKILL)
			reapChild(pid)
		}
	}
	for _, args := range [][]string{{"run", bad}, {"run", "--help"}, {"run"}} {
		exec.Command(confineBin, args...).Run()
		left(strings.Join(args, " "))
	}
	earlyKilled(t, dir, before)
	for _, tc := range []struct {
		file    string
		spawned bool
	}{{good, true}, {audit, false}} {
		cmd := exec.Command(confineBin, "run", tc.file)
		cmd.Env = append(os.Environ(), "CONFINE_TRACE=1")
		stdout, _ := cmd.StdoutPipe()
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The component runs (its first probe's line): what is left of the spawner?
		if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			cmd.Process.Kill()
			t.Fatalf("%s: no output (%v)", tc.file, err)
		}
		if found := spawnersOf(cmd.Process.Pid); len(found) > 0 {
			t.Errorf("%s: while the component runs, confine still has %v", tc.file, found)
		}
		trace := new(strings.Builder)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			trace.WriteString(sc.Text() + "\n")
		}
		cmd.Wait()
		spawn := strings.Contains(trace.String(), "confine-trace parent spawn ")
		clone := strings.Contains(trace.String(), "confine-trace parent clone ")
		if tc.spawned && clone && strings.Contains(trace.String(), "confine-trace parent spare_refused ") {
			spawn, clone = true, false // the spare went stale: another test changed the host's mounts
		}
		if spawn != tc.spawned || clone == tc.spawned {
			t.Errorf("%s: spawn step %v, clone step %v; want the spawner's %v\n%s", tc.file, spawn, clone, tc.spawned, trace)
		}
		left(tc.file)
	}
}

// madeAhead: the spare's fd is a mount it made ahead (stage_ahead.c): held from 128 on,
// O_PATH, on a mount of no namespace of the caller's (a detached one), where a caller's
// descriptor would be on one of the caller's mounts.
func madeAhead(t *testing.T, pid int, fd string) bool {
	t.Helper()
	var n, flags, mnt int
	info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd))
	for _, line := range strings.Split(string(info), "\n") {
		fmt.Sscanf(line, "flags: %o", &flags)
		fmt.Sscanf(line, "mnt_id: %d", &mnt)
	}
	mine, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mine), "\n") {
		if id, _, _ := strings.Cut(line, " "); id == fmt.Sprint(mnt) {
			return false
		}
	}
	fmt.Sscan(fd, &n)
	return n >= 128 && flags&unix.O_PATH != 0 && mnt != 0
}

// earlyKilled: while `confine run` waits for its Plan (a FIFO), its early spawner and
// spare wait beside it: they hold none of the caller's descriptors, the run's own fd 3
// (the caller's) is untouched, and a SIGKILL to the run ends both.
func earlyKilled(t *testing.T, dir string, before map[int]string) {
	t.Helper()
	fifo := filepath.Join(dir, "plan.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	mine, err := os.Create(filepath.Join(dir, "callers"))
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	cmd := exec.Command(confineBin, "run", "--plan", fifo)
	cmd.ExtraFiles = []*os.File{mine, mine} // fds 3 and 4, as systemd's LISTEN_FDS
	out, err := cmd.StdoutPipe()            // not /dev/null: the spawner's must be
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var found []string
	for i := 0; len(found) < 2; i++ {
		if i == 500 {
			t.Fatalf("no early spawner and spare beside the run: %v", found)
		}
		time.Sleep(10 * time.Millisecond)
		found = spawnersOf(cmd.Process.Pid)
	}
	for _, f := range found {
		var pid int
		var name string
		fmt.Sscan(f, &pid, &name)
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, e := range ents {
			target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
			// Its own mountinfo (the spawner's, which finds its spare's copy stale), and
			// the spare's mounts made ahead (stage_ahead.c).
			own := name == "confine-spawner" && target == fmt.Sprintf("/proc/%d/mountinfo", pid) ||
				name == "confine-spare" && madeAhead(t, pid, e.Name())
			if !strings.HasPrefix(target, "socket:") && target != os.DevNull && !own {
				t.Errorf("the %s holds %s=%s: the caller's", name, e.Name(), target)
			}
		}
	}
	if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", cmd.Process.Pid)); target != mine.Name() {
		t.Errorf("the run's fd 3 is %q, want the caller's %s", target, mine.Name())
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, f := range found {
		var pid int
		fmt.Sscan(f, &pid)
		for i := 0; childrenOf(os.Getpid())[pid] != "Z" && !sandbox.Gone(pid); i++ {
			if i == 250 {
				t.Fatalf("%s outlived its SIGKILLed run", f)
			}
			time.Sleep(20 * time.Millisecond)
		}
		reapChild(pid) // this process's now (subreaper)
	}
}
