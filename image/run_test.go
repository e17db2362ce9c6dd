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
	if _, err := s.RunImage(&plan.Image{Ref: "x", Digest: "sha256:" + "00000000000000000000000000000000000000000000000000000000000000aa"}, true); err == nil {
		t.Error("a Plan's image that is not in the store was accepted")
	}
}

// TestRunMounted: once the overlay is mounted the volatile marks in the work dir go
// while the run lasts, the rest of the work dir and the upper stay; Close then removes
// the run's dir, upper and work dir, whatever the component wrote.
func TestRunMounted(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.newRun()
	if err != nil {
		t.Fatal(err)
	}
	marks := filepath.Join(r.Work, "work", "incompat", "volatile")
	for _, d := range []string{marks, filepath.Join(r.Upper, "proc"), filepath.Join(r.Upper, "data", "deep")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(marks, "dirty"), nil, 0o600)
	os.WriteFile(filepath.Join(r.Upper, "data", "deep", "f"), []byte("x"), 0o600)
	r.Mounted()
	r.Mounted() // a second call does nothing
	<-r.settled
	if _, err := os.Stat(filepath.Join(r.Work, "work", "incompat")); err == nil {
		t.Error("the volatile marks survived Mounted")
	}
	for _, p := range []string{filepath.Join(r.Work, "work"), filepath.Join(r.Upper, "data", "deep", "f")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Mounted removed %s: %v", p, err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, "runs", "*")); len(left) != 0 {
		t.Errorf("Close left %v", left)
	}
}
