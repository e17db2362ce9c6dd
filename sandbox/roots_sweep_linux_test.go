package sandbox

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSweepRootsTempDir: the clean-up sweep looks in RootsDir and in the temporary
// directory, where the roots were made before RootsDir, and there removes a killed
// supervisor's root directory and keeps one whose supervisor runs.
func TestSweepRootsTempDir(t *testing.T) {
	if dirs := rootsSweptDirs(); !slices.Contains(dirs, RootsDir()) || !slices.Contains(dirs, os.TempDir()) {
		t.Fatalf("SweepRoots looks in %v, want %s and %s", dirs, RootsDir(), os.TempDir())
	}
	dir := t.TempDir()
	// pid_max itself is never a process's id: the supervisor of this one is gone.
	data, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	dead, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !Gone(dead) {
		t.Fatalf("pid_max %q: %v, gone %v", data, err, Gone(dead))
	}
	left, err := os.MkdirTemp(dir, fmt.Sprintf("confine-root-%d-", dead))
	if err != nil {
		t.Fatal(err)
	}
	live, err := os.MkdirTemp(dir, fmt.Sprintf("confine-root-%d-", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	sweepRootsIn(dir)
	if _, err := os.Lstat(left); err == nil {
		t.Errorf("%s, of a supervisor that is gone, survived the sweep", left)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("%s, of a supervisor that runs, was swept: %v", live, err)
	}
}
