//go:build linux

package run_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
