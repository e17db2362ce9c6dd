package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestRunDirs: a run's upper is flocked for its life, so a sweep keeps it; one a killed
// run left (nobody holds its flock) is removed with its reference, and Close removes its own.
func TestRunDirs(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.newRun()
	if err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(s.Dir, "runs", "run-left")
	os.MkdirAll(filepath.Join(left, "upper"), 0o755)
	os.WriteFile(filepath.Join(s.Dir, "refs", "run-left"), []byte("[]"), 0o600)
	s.SweepRuns()
	if _, err := os.Stat(left); err == nil {
		t.Error("the dead run's dir survived the sweep")
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "refs", "run-left")); err == nil {
		t.Error("the dead run's reference survived the sweep")
	}
	if _, err := os.Stat(live.Upper); err != nil {
		t.Errorf("the sweep removed a live run's upper: %v", err)
	}
	live.Close()
	if _, err := os.Stat(live.dir); err == nil {
		t.Error("Close left the run's dir")
	}
	if _, err := s.RunImage(&plan.Image{Ref: "x", Digest: "sha256:" + "00000000000000000000000000000000000000000000000000000000000000aa"}); err == nil {
		t.Error("a Plan's image that is not in the store was accepted")
	}
}
