package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/progcache"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestStoreCheckRace: a writable bind's source that is a symlink to a harmless directory
// when the start checks it, and to the program store's parent when the parent clones it
// for its idmap, is refused there: the clone is checked on the file it opened.
// A read-only bind of the store clones.
func TestStoreCheckRace(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	store := filepath.Join(dir, "cache", "seccomp")
	t.Setenv(progcache.EnvDir, store)
	os.MkdirAll(store, 0o700)
	os.Mkdir(filepath.Join(dir, "harmless"), 0o700)
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "harmless"), link)
	m := plan.Mount{Type: "bind", Source: link, Target: "/data", Options: []string{"nosuid", "nodev"}, Why: "filesystem.write", Idmap: true}
	if err := checkProgramStore(&plan.Component{Mounts: []plan.Mount{m}}); err != nil {
		t.Fatalf("the harmless bind was refused: %v", err)
	}
	os.Remove(link)
	os.Symlink(filepath.Join(dir, "cache"), link) // swapped after the check
	fd, err := openTreeChecked(m)
	if err == nil {
		unix.Close(fd)
	}
	if se := (*storeExposed)(nil); !errors.As(err, &se) {
		t.Errorf("the swapped bind was cloned (%v), want refused as holding the store", err)
	}
	m.Options = append([]string{"ro"}, m.Options...)
	if fd, err := openTreeChecked(m); err != nil {
		t.Errorf("a read-only bind of the store: %v", err)
	} else {
		unix.Close(fd)
	}
}
