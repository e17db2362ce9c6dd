package memtrim

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	trimMu sync.Mutex
	ranges []span // the mappings to drop, found by the first Trim
)

type span struct{ start, end uint64 }

// Trim returns the heap's free pages to the kernel and unmaps the resident pages of the
// read-only file mappings of the executable and its shared libraries (text, rodata,
// pclntab). Those are clean pages of the page cache: the kernel maps them back from
// there on the next touch, and a running binary cannot change (ETXTBSY). A mapping
// holding any anonymous page (the RELRO page the dynamic loader wrote, then made
// read-only) is left alone, as is every writable mapping: unmapping those would lose
// what was written.
func Trim() {
	mu.Lock()
	size := piece
	mu.Unlock()
	trim(size)
}

// trim is Trim, whose first call also cuts the mappings into VMAs of size bytes (none
// with Whole).
func trim(size int) {
	debug.FreeOSMemory()
	trimMu.Lock()
	defer trimMu.Unlock()
	if ranges == nil {
		ranges = readOnlyObjects()
		for _, s := range ranges {
			cut(s, size)
		}
	}
	drop(ranges)
}

// drop unmaps the resident pages of spans, in one run of system calls and nothing
// else, so that little of the binary is touched, and mapped back, after the first.
func drop(spans []span) {
	for _, s := range spans {
		// A raw call: these addresses are not Go memory.
		unix.Syscall(unix.SYS_MADVISE, uintptr(s.start), uintptr(s.end-s.start), unix.MADV_DONTNEED)
	}
}

// cut splits s into VMAs of size bytes. Linux 6.18 maps a page cache folio whole on a
// fault when the folio lies inside the faulting VMA, and the binary's folios are as
// large as 2 MiB, as `go build` or readahead left them: a touch of one function maps its
// whole folio back. A folio that crosses a VMA boundary is mapped only within the
// fault-around window, clipped to the VMA; so pieces of 16 KiB map 16 KiB at most per
// fault. Every other piece gets MADV_NOHUGEPAGE (which only marks it, and keeps huge
// pages off the binary), so that neighbours differ and the kernel cannot merge them.
// The cost is a VMA per piece in the kernel (192 bytes), not resident memory.
func cut(s span, size int) {
	if size <= 0 {
		return
	}
	step := uint64(size)
	for a := s.start + step; a < s.end; a += 2 * step {
		unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(min(step, s.end-a)), unix.MADV_NOHUGEPAGE)
	}
}

// readOnlyObjects is the read-only private mappings holding no anonymous page of the
// files this process maps executable: the executable and its shared libraries, which
// stay mapped for the process's life (a data file that Go code maps could be unmapped,
// and its addresses reused, between the read of smaps and the madvise).
func readOnlyObjects() []span {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil
	}
	defer f.Close()
	type candidate struct {
		span
		path string
	}
	var found []candidate
	objects := map[string]bool{}
	var cur *candidate // the current mapping, while it is a candidate
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := header(line); ok {
			cur = nil
			if h.exec {
				objects[h.path] = true
			}
			if h.path != "" && !h.write && h.private {
				cur = &candidate{h.span, h.path}
			}
			continue
		}
		// Each mapping's fields end with VmFlags; Anonymous comes before it.
		if v, ok := strings.CutPrefix(line, "Anonymous:"); ok && cur != nil && strings.TrimSpace(v) != "0 kB" {
			cur = nil
		}
		if strings.HasPrefix(line, "VmFlags:") && cur != nil {
			found = append(found, *cur)
			cur = nil
		}
	}
	spans := []span{}
	for _, c := range found {
		if objects[c.path] {
			spans = append(spans, c.span)
		}
	}
	return spans
}

// mappingHeader is a line of smaps that starts a mapping.
type mappingHeader struct {
	span
	path                 string // "" for an anonymous or special ([vdso]) mapping
	write, exec, private bool
}

// header parses a mapping's header line, "00402000-01096000 r-xp 00002000 fe:00 1234
// /path".
func header(line string) (h mappingHeader, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 5 || !strings.Contains(fields[0], "-") || strings.HasSuffix(fields[0], ":") || len(fields[1]) != 4 {
		return h, false
	}
	lo, hi, _ := strings.Cut(fields[0], "-")
	var err1, err2 error
	h.start, err1 = strconv.ParseUint(lo, 16, 64)
	h.end, err2 = strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil {
		return h, false
	}
	perms := fields[1]
	h.write, h.exec, h.private = perms[1] == 'w', perms[2] == 'x', perms[3] == 'p'
	if len(fields) >= 6 && strings.HasPrefix(fields[5], "/") {
		h.path = strings.Join(fields[5:], " ")
	}
	return h, true
}
