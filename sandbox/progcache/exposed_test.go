package progcache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExposes: a bind of the store's directory, of a parent of it (through a symlink
// too), of an entry or of a directory inside it exposes the store, whether told by its
// path or by a descriptor; a sibling does not.
func TestExposes(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "cache", "seccomp")
	t.Setenv(EnvDir, store)
	os.MkdirAll(filepath.Join(store, "sub"), 0o700)
	os.WriteFile(filepath.Join(store, "entry"), nil, 0o600)
	os.Mkdir(filepath.Join(dir, "sibling"), 0o700)
	os.Symlink(filepath.Join(dir, "cache"), filepath.Join(dir, "alias"))
	for _, c := range []struct {
		path    string
		exposes bool
	}{
		{store, true}, {filepath.Join(dir, "cache"), true}, {dir, true}, {filepath.Join(dir, "alias"), true},
		{filepath.Join(store, "entry"), true}, {filepath.Join(store, "sub"), true},
		{filepath.Join(dir, "sibling"), false},
	} {
		if got := Exposes(c.path) != ""; got != c.exposes {
			t.Errorf("Exposes(%s) = %v, want %v", c.path, got, c.exposes)
		}
		fd, err := unix.Open(c.path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := ExposesFD(fd) != ""; got != c.exposes {
			t.Errorf("ExposesFD(%s) = %v, want %v", c.path, got, c.exposes)
		}
		unix.Close(fd)
	}
}

// TestExposesPlans: the directory of kept Plans is kept out of reach as the programs'
// is, the one PlanEnvDir names as well.
func TestExposesPlans(t *testing.T) {
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans")
	t.Setenv(EnvDir, filepath.Join(dir, "seccomp"))
	t.Setenv(PlanEnvDir, plans)
	os.Mkdir(plans, 0o700)
	os.Mkdir(filepath.Join(dir, "sibling"), 0o700)
	if got := Exposes(plans); got != plans {
		t.Errorf("Exposes(%s) = %q, want the plans directory", plans, got)
	}
	if got := Exposes(filepath.Join(dir, "sibling")); got != "" {
		t.Errorf("Exposes(sibling) = %q", got)
	}
	if !slices.Contains(Dirs(), PlanDir) {
		t.Errorf("Dirs() = %q, without %s", Dirs(), PlanDir)
	}
}
