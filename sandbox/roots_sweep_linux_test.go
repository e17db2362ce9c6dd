package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSweepRootsTempDir: the clean-up sweep removes a killed supervisor's root directory
// left in the temporary directory, where the roots were made before RootsDir, and keeps
// one whose supervisor runs.
func TestSweepRootsTempDir(t *testing.T) {
	tmp := os.TempDir()
	if filepath.Clean(tmp) == filepath.Clean(RootsDir()) {
		t.Skipf("the roots are made in %s already", tmp)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid // reaped: gone, unless reused meanwhile
	if !Gone(dead) {
		t.Skipf("pid %d was reused", dead)
	}
	left, err := os.MkdirTemp(tmp, fmt.Sprintf("confine-root-%d-", dead))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(left)
	live, err := os.MkdirTemp(tmp, fmt.Sprintf("confine-root-%d-", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(live)
	SweepRoots()
	if _, err := os.Lstat(left); err == nil {
		t.Errorf("%s, of a supervisor that is gone, survived the sweep", left)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("%s, of a supervisor that runs, was swept: %v", live, err)
	}
}
