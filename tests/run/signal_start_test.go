//go:build linux

package run_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestSignalEndsBlockedStart: a SIGTERM while the start is blocked (its --audit-log is a
// FIFO no one reads, so opening it waits) ends confine by that signal once --grace has
// passed; the start is not waited for, as it was not before signal.Notify moved ahead
// of it.
func TestSignalEndsBlockedStart(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	file := filepath.Join(dir, "exit.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "exit:0")), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(confineBin, "run", "--grace", "1s", "--audit-log", fifo, file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Blocked: a thread of confine waits in the FIFO's open for a partner.
	deadline := time.After(time.Minute)
	for !openingFIFO(cmd.Process.Pid) {
		select {
		case err := <-exited:
			t.Fatalf("confine ended before opening its audit log: %v", err)
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatal("no thread of confine came to wait in the FIFO's open (wchan wait_for_partner)")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("confine ended with %v; want killed by SIGTERM", err)
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-exited
		t.Fatal("a SIGTERM during a blocked start did not end confine")
	}
}

// openingFIFO: a thread of pid waits in open(2) of a FIFO for the other end.
func openingFIFO(pid int) bool {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/wchan")
	for _, w := range tasks {
		if b, err := os.ReadFile(w); err == nil && strings.Contains(string(b), "wait_for_partner") {
			return true
		}
	}
	return false
}

// TestSignalDuringStartRunsNothing: a SIGINT at any moment of `confine run`'s start,
// before its signals are caught too (the spare has its program by then, and the root
// directory and cgroup may be made), either ends confine by that signal with nothing of
// the component run and no process of the run left (DESIGN.md invariant 7: the spare
// dies with it), or is forwarded to the component once it runs. What a supervisor killed
// so leaves (an empty root directory, an empty cgroup) the next start removes.
func TestSignalDuringStartRunsNothing(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o777)
	marker := filepath.Join(out, "ran")
	file := filepath.Join(dir, "sig.yaml")
	policy := "version: 1\nname: sigstart\nrun: {command: [\"" + probeDir + "/probe\", \"write:" + marker + "\"], user: \"0\"}\n" +
		"filesystem: {read: [" + probeDir + "], write: [" + out + "]}\nsyscalls: {extends: default}\nresources: {pids: 16}\n"
	if err := os.WriteFile(file, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subreaper(t)
	var killed []int
	for i := 0; i < 40; i++ {
		os.Remove(marker)
		cmd := exec.Command(confineBin, "run", file)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%20) * 400 * time.Microsecond)
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("round %d: confine was killed by %v, and its component ran", i, ee.Sys().(syscall.WaitStatus).Signal())
			}
			killed = append(killed, cmd.Process.Pid)
		}
		orphansDie(t, before, i)
	}
	if _, _, code := tracedRun(t, "run", file); code != 0 {
		t.Fatalf("the run after: exit %d", code)
	}
	for _, pid := range killed {
		mine := fmt.Sprintf("-%d-", pid)
		roots, _ := filepath.Glob(filepath.Join(sandbox.RootsDir(), "confine-root"+mine+"*"))
		cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/confine/sigstart" + mine + "*")
		v2, _ := filepath.Glob("/sys/fs/cgroup/confine/sigstart" + mine + "*")
		if left := append(append(roots, cgroups...), v2...); len(left) > 0 {
			t.Errorf("killed supervisor %d: left after the next start: %v", pid, left)
		}
	}
	t.Logf("%d of 40 rounds ended confine by the signal", len(killed))
}

// orphansDie: every process the killed run left to this subreaper (its spawner, its
// spare, by their parent-death signal) exits within a few seconds; they are reaped.
func orphansDie(t *testing.T, before map[int]string, round int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		alive := map[int]string{}
		for pid, state := range newChildren(before) {
			if state == "Z" {
				reapChild(pid)
			} else {
				alive[pid] = state
			}
		}
		if len(alive) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for pid, state := range alive {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				t.Errorf("round %d: process %d (%s, %s) outlived the killed supervisor", round, pid, strings.TrimSpace(string(comm)), state)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
