package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCgroupsInSkipsOursAlone: a parent whose only subdirectory is the cgroup just made
// is not listed (its link count says so), and one that holds another cgroup is, ours
// among them; a parent that does not exist lists nothing.
func TestCgroupsInSkipsOursAlone(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "confine")
	mine := filepath.Join(parent, "web-1-1")
	if err := os.MkdirAll(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "cgroup.procs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ours := &Cgroup{dirs: []string{mine, "/elsewhere/confine/web-1-1"}}
	if got := cgroupsIn(nil, parent, "", ours); len(got) != 0 {
		t.Fatalf("a parent holding only ours listed %v", got)
	}
	if got := cgroupsIn(nil, parent, "", nil); !slices.Equal(got, []string{mine}) {
		t.Fatalf("without ours known: %v, want %v", got, []string{mine})
	}
	other := filepath.Join(parent, "db-2-1")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	got := cgroupsIn(nil, parent, "", ours)
	slices.Sort(got)
	if want := []string{other, mine}; !slices.Equal(got, want) {
		t.Fatalf("a parent holding another: %v, want %v", got, want)
	}
	if got := cgroupsIn(nil, parent, "web", ours); !slices.Equal(got, []string{mine}) {
		t.Fatalf("prefix web: %v", got)
	}
	if got := cgroupsIn(nil, filepath.Join(parent, "gone"), "", nil); len(got) != 0 {
		t.Fatalf("a missing parent listed %v", got)
	}
}
