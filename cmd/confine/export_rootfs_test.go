//go:build !confine_slim

package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestApplyLayers flattens two hand-made layers: the upper's whiteout removes the
// lower's file, its opaque directory hides the lower's content, its directory replaces
// the lower's symlink without writing through it, owners are shifted, symlinks copied
// as links.
func TestApplyLayers(t *testing.T) {
	testenv.Require(t, testenv.Root)
	work := t.TempDir()
	outside := filepath.Join(work, "outside")
	lower, upper, out := filepath.Join(work, "l"), filepath.Join(work, "u"), filepath.Join(work, "out")
	for _, d := range []string{outside, lower + "/d", upper + "/d", upper + "/esc", out} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(lower+"/a", []byte("a"), 0o644))
	must(t, os.WriteFile(lower+"/d/old", []byte("old"), 0o644))
	must(t, os.Lchown(lower+"/d/old", 1000, 1001))
	must(t, os.Symlink("/etc/passwd", lower+"/s"))
	must(t, os.Symlink(outside, lower+"/esc"))
	must(t, unix.Mknod(upper+"/a", unix.S_IFCHR, 0))
	must(t, unix.Setxattr(upper+"/d", "trusted.overlay.opaque", []byte("y"), 0))
	must(t, os.WriteFile(upper+"/d/new", []byte("new"), 0o755))
	must(t, os.Chmod(upper+"/d/new", os.ModeSetuid|0o755))
	must(t, os.WriteFile(upper+"/esc/x", []byte("x"), 0o644))

	root, err := os.OpenRoot(out)
	must(t, err)
	defer root.Close()
	f := &rootfsFiller{hostID: 100000}
	for _, l := range []string{lower, upper} {
		if err := f.applyLayer(root, l, "trusted"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat(out + "/a"); !os.IsNotExist(err) {
		t.Errorf("a: %v, want whited out", err)
	}
	ents, _ := os.ReadDir(out + "/d")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if strings.Join(names, " ") != "new" {
		t.Errorf("d holds %v, want only new (opaque)", names)
	}
	if fi, err := os.Stat(out + "/d/new"); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("d/new: %v %v, want setuid kept", fi, err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 100000 {
		t.Errorf("d/new owned by %d, want 100000", st.Uid)
	}
	if target, err := os.Readlink(out + "/s"); err != nil || target != "/etc/passwd" {
		t.Errorf("s: %q %v, want the symlink itself", target, err)
	}
	if _, err := os.Stat(outside + "/x"); !os.IsNotExist(err) {
		t.Errorf("a write went through the lower layer's symlink: %v", err)
	}
	if fi, err := os.Lstat(out + "/esc"); err != nil || !fi.IsDir() {
		t.Errorf("esc: %v %v, want the upper's directory", fi, err)
	}
}

// TestMkdirAllInRefusesSymlinks: a bind source under an image's rootfs must be a real
// directory, since runc follows symlinks in a mount's source.
func TestMkdirAllInRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(dir+"/rootfs", 0o755))
	must(t, os.Symlink("/etc", dir+"/rootfs/scratch"))
	root, err := os.OpenRoot(dir)
	must(t, err)
	defer root.Close()
	if err := mkdirAllIn(root, "rootfs/scratch/x"); err == nil || !strings.Contains(err.Error(), "expected a directory") {
		t.Errorf("mkdirAllIn through a symlink: %v", err)
	}
	if err := mkdirAllIn(root, "rootfs/var/lib/x"); err != nil {
		t.Error(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
