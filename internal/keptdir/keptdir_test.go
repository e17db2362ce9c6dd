package keptdir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// name is the i-th entry's name: 64 hex digits, as a SHA-256 names one.
func name(i int) string { return fmt.Sprintf("%064x", i) }

func testDir(t *testing.T, l Limits) *Dir {
	return &Dir{Path: filepath.Join(t.TempDir(), "kept"), Owner: os.Geteuid(), Limits: l}
}

var few = Limits{MaxEntries: 4, KeepEntries: 2}

// TestWriteRead: an entry written comes back whole, in a directory made 0700; a second
// write replaces it; an entry larger than the bound asked is not read.
func TestWriteRead(t *testing.T) {
	d := testDir(t, few)
	if d.Read(name(1), 100) != nil {
		t.Fatal("an empty store gave an entry")
	}
	d.Write(name(1), []byte("one"))
	if fi, err := os.Stat(d.Path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory: %v, %v; want 0700", fi, err)
	}
	d.Write(name(1), []byte("uno"))
	if got := d.Read(name(1), 3); string(got) != "uno" {
		t.Errorf("read %q, want the second write's", got)
	}
	if got := d.Read(name(1), 2); got != nil {
		t.Errorf("an entry larger than the bound was read: %q", got)
	}
	if names := list(t, d.Path); !slices.Equal(names, []string{name(1)}) {
		t.Errorf("the directory holds %v, want the entry alone (no temporary left)", names)
	}
}

// TestRefusedDirectory: a directory that is a symlink, that its group may write, that
// others may enter, or that is not the owner's is neither read nor written.
func TestRefusedDirectory(t *testing.T) {
	for _, c := range []struct {
		what  string
		setup func(d *Dir) // the store is 0700, holding name(1)
	}{
		{"a symlink", func(d *Dir) {
			os.Rename(d.Path, d.Path+".real")
			os.Symlink(d.Path+".real", d.Path)
		}},
		{"group-writable", func(d *Dir) { os.Chmod(d.Path, 0o720) }},
		{"others may enter", func(d *Dir) { os.Chmod(d.Path, 0o701) }},
		{"another owner's", func(d *Dir) { otherOwner(d, d.Path) }},
	} {
		d := testDir(t, few)
		d.Write(name(1), []byte("one"))
		c.setup(d)
		if got := d.Read(name(1), 100); got != nil {
			t.Errorf("%s: read %q", c.what, got)
		}
		d.Write(name(2), []byte("two"))
		real, _ := filepath.EvalSymlinks(d.Path)
		if _, err := os.Lstat(filepath.Join(real, name(2))); err == nil {
			t.Errorf("%s: written", c.what)
		}
	}
}

// TestRefusedEntry: an entry that is a symlink (to the owner's own file), that its
// group or others may write, that is a directory or another user's is not read.
func TestRefusedEntry(t *testing.T) {
	d := testDir(t, few)
	d.Write(name(1), []byte("one"))
	entry := filepath.Join(d.Path, name(1))
	for _, c := range []struct {
		what  string
		setup func()
	}{
		{"a symlink", func() {
			os.WriteFile(entry+".real", []byte("one"), 0o600)
			os.Symlink(entry+".real", entry)
		}},
		{"group-writable", func() {
			os.WriteFile(entry, []byte("one"), 0o600)
			os.Chmod(entry, 0o620)
		}},
		{"writable by others", func() {
			os.WriteFile(entry, []byte("one"), 0o600)
			os.Chmod(entry, 0o602)
		}},
		{"a directory", func() { os.Mkdir(entry, 0o700) }},
		{"another user's", func() {
			os.WriteFile(entry, []byte("one"), 0o600)
			otherOwner(d, entry)
		}},
	} {
		os.RemoveAll(entry)
		os.Remove(entry + ".real")
		c.setup()
		if got := d.Read(name(1), 100); got != nil {
			t.Errorf("%s: read %q", c.what, got)
		}
		d.Owner = os.Geteuid()
	}
	os.RemoveAll(entry)
	os.WriteFile(entry, []byte("one"), 0o600)
	os.Chmod(entry, 0o644)
	if got := d.Read(name(1), 100); string(got) != "one" {
		t.Errorf("the owner's entry others may read: %q, want it read", got)
	}
}

// TestTornTemporary: a temporary a killed write left (cut short) is never read as the
// entry, which keeps its last whole content, and goes first when the store is pruned;
// a file whose name is no entry's stays.
func TestTornTemporary(t *testing.T) {
	d := testDir(t, few)
	d.Write(name(1), []byte("whole"))
	torn := filepath.Join(d.Path, tmpPrefix+"0123456789abcdef")
	os.WriteFile(torn, []byte("wh"), 0o600)
	other := filepath.Join(d.Path, tmpPrefix+"notanentry")
	os.WriteFile(other, nil, 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(torn, old, old)
	os.Chtimes(other, old, old)
	if got := d.Read(name(1), 100); string(got) != "whole" {
		t.Errorf("read %q beside a torn temporary, want the whole entry", got)
	}
	for i := 2; i <= few.MaxEntries; i++ { // name(1) and the torn one make MaxEntries+1
		d.Write(name(i), []byte("x"))
	}
	if _, err := os.Stat(torn); err == nil {
		t.Error("the torn temporary, the oldest, was not pruned")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file not the store's was pruned: %v", err)
	}
}

// TestPruneOrder: once a write finds more than MaxEntries entries, the oldest go by
// modification time (not by name) until KeepEntries are left.
func TestPruneOrder(t *testing.T) {
	d := testDir(t, Limits{MaxEntries: 5, KeepEntries: 3})
	base := time.Now().Add(-time.Hour)
	// Written 0..4, each then aged: name(4) the oldest, name(0) the newest.
	for i := range 5 {
		d.Write(name(i), []byte("x"))
		at := base.Add(time.Duration(5-i) * time.Minute)
		os.Chtimes(filepath.Join(d.Path, name(i)), at, at)
	}
	if n := len(list(t, d.Path)); n != 5 {
		t.Fatalf("%d entries before the bound is passed, want 5", n)
	}
	d.Write(name(9), []byte("x")) // the newest: six entries
	want := []string{name(0), name(1), name(9)}
	if got := list(t, d.Path); !slices.Equal(got, want) {
		t.Errorf("left %v, want the three newest %v", short(got), short(want))
	}
}

// TestPruneBytes: with MaxBytes, entries larger together than it go, oldest first, until
// they hold half of it, whatever their count.
func TestPruneBytes(t *testing.T) {
	d := testDir(t, Limits{MaxEntries: 100, KeepEntries: 50, MaxBytes: 40})
	base := time.Now().Add(-time.Hour)
	for i := range 4 { // 4 entries of 10 bytes: at the bound, not past it
		d.Write(name(i), []byte(strings.Repeat("x", 10)))
		at := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(filepath.Join(d.Path, name(i)), at, at)
	}
	if n := len(list(t, d.Path)); n != 4 {
		t.Fatalf("%d entries at the bound, want 4", n)
	}
	d.Write(name(4), []byte("x")) // 41 bytes: down to 20 or fewer, the newest kept
	if got, want := list(t, d.Path), []string{name(3), name(4)}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", short(got), short(want))
	}
}

// TestImports: the package imports the standard library and x/sys alone (plancache's
// init, which runs early, uses it).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, "golang.org/x/sys/") && pkg != "github.com/confine-sandbox/confine/internal/keptdir" {
			t.Errorf("keptdir imports %s", pkg)
		}
	}
}

// otherOwner gives path to a user other than d's owner: as root by chown, and
// otherwise by naming another owner in d.
func otherOwner(d *Dir, path string) {
	if os.Geteuid() == 0 {
		os.Chown(path, 1000, 1000)
		return
	}
	d.Owner++
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// short is names cut to their last digits, for messages.
func short(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, strings.TrimLeft(n, "0"))
	}
	return out
}
