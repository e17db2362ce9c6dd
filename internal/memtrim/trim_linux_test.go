package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentKiB is the Rss and Anonymous of this process's mapping that starts at addr.
func residentKiB(t *testing.T, addr uintptr) (rss, anon int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := strconv.FormatUint(uint64(addr), 16) + "-"
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasPrefix(fields[0], want)
			continue
		}
		if !in || len(fields) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "Rss:":
			rss = kb
		case "Anonymous:":
			anon = kb
		}
	}
	return rss, anon
}

// mapFile maps a file of n pages of 'x' privately, read and write, and touches each page.
func mapFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	page := os.Getpagesize()
	if err := os.WriteFile(path, bytes.Repeat([]byte{'x'}, n*page), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Opened read-only, mapped writable: MAP_PRIVATE writes go to anonymous copies.
	m, err := unix.Mmap(int(f.Fd()), 0, n*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	sum := 0
	for i := 0; i < len(m); i += page {
		sum += int(m[i])
	}
	if sum != n*'x' {
		t.Fatalf("read back %d", sum)
	}
	return path, m
}

// TestDropReadOnlyUnmapsCleanPages: a read-only file mapping's resident pages go, and
// its content reads the same afterwards, faulted back from the page cache.
func TestDropReadOnlyUnmapsCleanPages(t *testing.T) {
	path, m := mapFile(t, 16)
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	if rss, _ := residentKiB(t, addr); rss == 0 {
		t.Fatal("the mapping has no resident page before the trim")
	}
	dropReadOnly(path)
	if rss, _ := residentKiB(t, addr); rss != 0 {
		t.Errorf("%d kB still resident after the trim", rss)
	}
	if !bytes.Equal(m, bytes.Repeat([]byte{'x'}, len(m))) {
		t.Error("the content changed across the trim")
	}
}

// TestDropReadOnlyKeepsWrittenPages: a mapping that was written and then made read-only
// (as the dynamic loader does with RELRO) keeps what was written.
func TestDropReadOnlyKeepsWrittenPages(t *testing.T) {
	path, m := mapFile(t, 4)
	m[0] = 'w' // an anonymous copy of the first page
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	if _, anon := residentKiB(t, addr); anon == 0 {
		t.Fatal("the written page is not anonymous")
	}
	dropReadOnly(path)
	if m[0] != 'w' {
		t.Fatalf("the written byte reads %q after the trim: the loader's relocations would be lost", m[0])
	}
	if _, anon := residentKiB(t, addr); anon == 0 {
		t.Error("the written page is gone")
	}
}

// TestTrimLeavesTheProcessRunning: after Trim of the test binary itself, its code and
// data still work (faulted back), and its written data is intact.
func TestTrimLeavesTheProcessRunning(t *testing.T) {
	written := strings.Repeat("y", 3)
	Trim()
	if got := strconv.Itoa(42) + written; got != "42yyy" {
		t.Fatalf("after Trim: %q", got)
	}
}
