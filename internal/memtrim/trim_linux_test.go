package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident is the Rss and Anonymous (kB) of this process's mappings in [lo, hi), and
// how many mappings (VMAs) that range holds.
func resident(t *testing.T, lo, hi uintptr) (rss, anon, vmas int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, ok := header(sc.Text()); ok {
			in = uintptr(h.start) >= lo && uintptr(h.end) <= hi
			if in {
				vmas++
			}
			continue
		}
		fields := strings.Fields(sc.Text())
		if !in || len(fields) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "Rss:":
			rss += kb
		case "Anonymous:":
			anon += kb
		}
	}
	return rss, anon, vmas
}

// mapFile writes a file of n pages of 'x' in one write (so that the page cache may hold
// it in large folios), maps it privately, read and write, at an address aligned to 2 MiB,
// and touches each page. Opened read-only, mapped writable: writes go to anonymous copies.
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
	const align = 2 << 20
	room, err := unix.Mmap(-1, 0, n*page+align, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	base := unsafe.Pointer(unsafe.SliceData(room))
	at := unsafe.Add(base, (align-uintptr(base)%align)%align)
	if _, err := unix.MmapPtr(int(f.Fd()), 0, at, uintptr(n*page), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(room) })
	m := unsafe.Slice((*byte)(at), n*page)
	sum := 0
	for i := 0; i < len(m); i += page {
		sum += int(m[i])
	}
	if sum != n*'x' {
		t.Fatalf("read back %d", sum)
	}
	return path, m
}

func bounds(m []byte) (lo, hi uintptr) {
	lo = uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	return lo, lo + uintptr(len(m))
}

// ours is what readOnlyObjects finds inside m.
func ours(m []byte) []span {
	lo, hi := bounds(m)
	var in []span
	for _, s := range readOnlyObjects() {
		if uintptr(s.start) >= lo && uintptr(s.end) <= hi {
			in = append(in, s)
		}
	}
	return in
}

// TestDropUnmapsCleanPages: a read-only mapping of a file this process maps executable
// (as it does its binary and libraries) is found, its resident pages go, and its
// content reads the same afterwards, faulted back from the page cache.
func TestDropUnmapsCleanPages(t *testing.T) {
	_, m := mapFile(t, 16)
	if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	lo, hi := bounds(m)
	if rss, _, _ := resident(t, lo, hi); rss == 0 {
		t.Fatal("the mapping has no resident page before the trim")
	}
	spans := ours(m)
	if len(spans) != 1 {
		t.Fatalf("found %d spans in the mapping, want 1", len(spans))
	}
	drop(spans)
	if rss, _, _ := resident(t, lo, hi); rss != 0 {
		t.Errorf("%d kB still resident after the trim", rss)
	}
	if !bytes.Equal(m, bytes.Repeat([]byte{'x'}, len(m))) {
		t.Error("the content changed across the trim")
	}
}

// TestKeepsWrittenPages: a mapping that was written and then made read-only (as the
// dynamic loader does with RELRO) is not a candidate, and keeps what was written.
func TestKeepsWrittenPages(t *testing.T) {
	_, m := mapFile(t, 4)
	m[0] = 'w' // an anonymous copy of the first page
	if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	lo, hi := bounds(m)
	if _, anon, _ := resident(t, lo, hi); anon == 0 {
		t.Fatal("the written page is not anonymous")
	}
	if spans := ours(m); len(spans) != 0 {
		t.Fatalf("a mapping with a written page is a candidate: %v", spans)
	}
}

// TestLeavesDataFiles: a read-only mapping of a file that nothing maps executable is
// left alone: Go code could unmap it, and its addresses be reused, under the trim.
func TestLeavesDataFiles(t *testing.T) {
	_, m := mapFile(t, 4)
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if spans := ours(m); len(spans) != 0 {
		t.Fatalf("a data file's mapping is a candidate: %v", spans)
	}
}

// TestCutMapsBackOnePiece: after the cut, a touch maps back at most one piece, not the
// whole folio (Linux 6.18 maps a folio that lies inside one VMA whole) nor the whole
// fault-around window, and every page still reads what the file holds.
func TestCutMapsBackOnePiece(t *testing.T) {
	const n = 1024 // 4 MiB: two 2 MiB folios where the page cache uses them
	_, m := mapFile(t, n)
	if err := unix.Mprotect(m, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	lo, hi := bounds(m)
	spans := ours(m)
	for _, s := range spans {
		cut(s, Pieces)
	}
	drop(spans)
	if _, _, vmas := resident(t, lo, hi); vmas < len(m)/Pieces {
		t.Fatalf("the cut left %d mappings, want %d", vmas, len(m)/Pieces)
	}
	page := os.Getpagesize()
	for _, off := range []int{3 * page, len(m)/2 + 5*page, len(m) - page} {
		_ = m[off]
		rss, _, _ := resident(t, lo, hi)
		if rss*1024 > Pieces {
			t.Fatalf("a touch at %d mapped back %d kB, more than a piece (%d kB)", off, rss, Pieces/1024)
		}
		drop(spans)
	}
	if !bytes.Equal(m, bytes.Repeat([]byte{'x'}, len(m))) {
		t.Error("the content changed across the cut")
	}
}

// TestTrimLeavesTheProcessRunning: after a trim of the test binary itself and its
// libraries, cut into pieces, their code and data still work (faulted back), and the
// written data is intact; the tests after it run on the cut binary.
func TestTrimLeavesTheProcessRunning(t *testing.T) {
	written := strings.Repeat("y", 3)
	trim(Pieces)
	if got := strconv.Itoa(42) + written; got != "42yyy" {
		t.Fatalf("after Trim: %q", got)
	}
}

// TestCollectionTrimsAgain: a garbage collection after a trim brings another trim.
func TestCollectionTrimsAgain(t *testing.T) {
	mu.Lock()
	was := again
	again = 0
	mu.Unlock()
	defer func() { mu.Lock(); again = was; mu.Unlock() }()
	trimNow()
	count := func() int { mu.Lock(); defer mu.Unlock(); return trims }
	before := count()
	runtime.GC() // one, then a pause: collections that go on put the trim off
	for deadline := time.Now().Add(time.Minute); count() == before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no trim followed a garbage collection")
		}
	}
}
