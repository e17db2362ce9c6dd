package progcache

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func testStore(t *testing.T) *Store {
	return &Store{dir: filepath.Join(t.TempDir(), "seccomp"), owner: os.Geteuid(), binary: "test binary"}
}

// TestKeepAndTake: a kept program comes back under its key only; another binary's store
// does not take it; an entry renamed to another key's name, one others may write, a
// symlink and a directory others may enter are not read.
func TestKeepAndTake(t *testing.T) {
	s := testStore(t)
	prog := bytes.Repeat([]byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}, 3)
	if s.Program("k1") != nil {
		t.Fatal("an empty store gave a program")
	}
	s.Keep("k1", prog)
	if got := s.Program("k1"); !bytes.Equal(got, prog) {
		t.Fatalf("kept %x, took %x", prog, got)
	}
	if s.Program("k2") != nil {
		t.Fatal("another key gave k1's program")
	}
	if other := (&Store{dir: s.dir, owner: s.owner, binary: "another binary"}); other.Program("k1") != nil {
		t.Fatal("another binary took this one's program")
	}
	if fi, err := os.Stat(s.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory: %v, %v; want 0700", fi, err)
	}
	k1 := filepath.Join(s.dir, s.entryName("k1"))
	k2 := filepath.Join(s.dir, s.entryName("k2"))
	os.Link(k1, k2)
	if s.Program("k2") != nil {
		t.Error("an entry holding k1 was taken under k2's name")
	}
	os.Remove(k2)
	os.Chmod(k1, 0o660)
	if s.Program("k1") != nil {
		t.Error("an entry its group may write was taken")
	}
	os.Chmod(k1, 0o600)
	os.Rename(k1, k1+".real")
	os.Symlink(k1+".real", k1)
	if s.Program("k1") != nil {
		t.Error("a symlinked entry was taken")
	}
	os.Remove(k1)
	os.Rename(k1+".real", k1)
	os.Chmod(s.dir, 0o755)
	if s.Program("k1") != nil {
		t.Error("an entry in a directory others may enter was taken")
	}
	s.Keep("k3", prog)
	if _, err := os.Stat(filepath.Join(s.dir, s.entryName("k3"))); err == nil {
		t.Error("a program was kept in a directory others may enter")
	}
	os.Chmod(s.dir, 0o700)
	if got := s.Program("k1"); !bytes.Equal(got, prog) {
		t.Error("the entry was not taken once the directory was root's alone again")
	}
}

// TestPrune: the store holds at most maxEntries programs.
func TestPrune(t *testing.T) {
	s := testStore(t)
	for i := range maxEntries + 10 {
		s.Keep(fmt.Sprint(i), []byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f})
	}
	entries, _ := os.ReadDir(s.dir)
	if len(entries) > maxEntries || len(entries) < keepEntries {
		t.Fatalf("%d entries, want between %d and %d", len(entries), keepEntries, maxEntries)
	}
}

// TestOpen: no store without root or when it is turned off.
func TestOpen(t *testing.T) {
	t.Setenv(EnvDir, "off")
	if Open() != nil {
		t.Error(EnvDir + "=off gave a store")
	}
	t.Setenv(EnvDir, "")
	if s := Open(); (s != nil) != (os.Geteuid() == 0) {
		t.Errorf("store %v for euid %d", s, os.Geteuid())
	}
}

// TestKeepSwappedDirectory: a store directory swapped for a symlink once Keep checked it
// (its parent writable by someone else) is neither written through nor pruned through:
// Keep works on the directory it checked, by its descriptor.
func TestKeepSwappedDirectory(t *testing.T) {
	s := testStore(t)
	prog := []byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}
	for i := range maxEntries {
		s.Keep(fmt.Sprint(i), prog)
	}
	victim := filepath.Join(filepath.Dir(s.dir), "victim")
	os.Mkdir(victim, 0o700)
	for i := range maxEntries + 10 {
		os.WriteFile(filepath.Join(victim, fmt.Sprint("file", i)), nil, 0o600)
	}
	moved := s.dir + ".checked"
	afterOpen = func() {
		os.Rename(s.dir, moved)
		os.Symlink(victim, s.dir)
	}
	defer func() { afterOpen = func() {} }()
	s.Keep("last", prog)
	if entries, _ := os.ReadDir(victim); len(entries) != maxEntries+10 {
		t.Errorf("the symlinked directory holds %d files, want its %d untouched", len(entries), maxEntries+10)
	}
	if _, err := os.Stat(filepath.Join(moved, s.entryName("last"))); err != nil {
		t.Errorf("the program was not kept in the directory Keep checked: %v", err)
	}
}

// TestIdentityOfMappedLibraries: a shared library the binary mapped executable (a
// dynamic build's libseccomp) is part of its identity: the same binary with that library
// replaced, even by one of the same version, keeps apart.
func TestIdentityOfMappedLibraries(t *testing.T) {
	dir := t.TempDir()
	exe, lib := filepath.Join(dir, "confine"), filepath.Join(dir, "libseccomp.so.2")
	os.WriteFile(exe, []byte("binary"), 0o755)
	os.WriteFile(lib, []byte("library 2.5.4"), 0o644)
	maps := func() []byte {
		var st syscall.Stat_t
		if err := syscall.Stat(lib, &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Appendf(nil, "7f0000000000-7f0000001000 r-xp 00000000 00:00 %d %s\n", st.Ino, lib)
	}
	before, err := identity(exe, maps())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(lib)
	os.WriteFile(lib, []byte("library 2.5.4+fix"), 0o644)
	after, err := identity(exe, maps())
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Fatalf("the binary with its library replaced has the same identity %q", before)
	}
}

// TestPruneOnlyEntries: a store in a directory that holds other files (EnvDir naming
// one) prunes its own entries alone.
func TestPruneOnlyEntries(t *testing.T) {
	s := testStore(t)
	os.Mkdir(s.dir, 0o700)
	for i := range maxEntries + 10 {
		os.WriteFile(filepath.Join(s.dir, fmt.Sprint("other", i)), nil, 0o600)
	}
	prog := []byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}
	for i := range maxEntries + 10 {
		s.Keep(fmt.Sprint(i), prog)
	}
	others, _ := filepath.Glob(filepath.Join(s.dir, "other*"))
	if len(others) != maxEntries+10 {
		t.Errorf("%d of the directory's %d other files are left", len(others), maxEntries+10)
	}
	if entries, _ := os.ReadDir(s.dir); len(entries)-len(others) > maxEntries {
		t.Errorf("%d entries kept, want at most %d", len(entries)-len(others), maxEntries)
	}
}

// TestStatic: static says what the running binary's ELF says: no PT_INTERP.
func TestStatic(t *testing.T) {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	if static() == interp {
		t.Errorf("static() is %v for a binary with a PT_INTERP %v", static(), interp)
	}
	if id, err := binaryID(); err != nil || static() && strings.Contains(id, " ") {
		t.Errorf("binaryID of a static binary: %q, %v", id, err)
	}
}
