package sandbox

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestSpawnedProcSignalWait: a child of ours, as the spawner's are, is signalled and
// reaped without os.Process; once reaped a signal is os.ErrProcessDone, as
// os.Process.Signal says it (cmd/confine's forward then takes the default action).
func TestSpawnedProcSignalWait(t *testing.T) {
	pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "60"}, &syscall.ProcAttr{})
	if err != nil {
		t.Skip("no /bin/sleep:", err)
	}
	p := &spawnedProc{pid: pid, stdio: &spawnStdio{}}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws, err := p.Wait()
	if err != nil || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("Wait: %v, %v; want killed by SIGTERM", ws, err)
	}
	if err := p.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Signal after Wait: %v, want os.ErrProcessDone", err)
	}
}
