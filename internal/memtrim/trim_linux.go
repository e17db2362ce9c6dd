package memtrim

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim returns the heap's free pages to the kernel and unmaps the resident pages of the
// executable's read-only file mappings (text, rodata, pclntab). Those are clean pages of
// the page cache: the kernel maps them back from there on the next touch, and the binary
// cannot change under a running process (ETXTBSY). A mapping holding any anonymous page
// (the RELRO page the dynamic loader wrote, then made read-only) is left alone, as is
// the writable data segment: unmapping those would lose what was written.
func Trim() {
	debug.FreeOSMemory()
	if exe, err := os.Readlink("/proc/self/exe"); err == nil {
		dropReadOnly(exe)
	}
}

// dropReadOnly unmaps the resident pages of this process's read-only mappings of path
// that hold no anonymous page.
func dropReadOnly(path string) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	var start, end uint64 // the current mapping, when it is a candidate
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mapping(line, path); ok {
			start, end = lo, hi
			continue
		}
		// Each mapping's fields end with VmFlags; Anonymous comes before it.
		if v, ok := strings.CutPrefix(line, "Anonymous:"); ok && end > start && strings.TrimSpace(v) != "0 kB" {
			start, end = 0, 0
		}
		if strings.HasPrefix(line, "VmFlags:") && end > start {
			// A raw call: these addresses are not Go memory.
			unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
			start, end = 0, 0
		}
	}
}

// mapping parses a mapping's header line, "00402000-01096000 r-xp 00002000 fe:00 1234
// /path", and reports its range when it is a read-only mapping of path.
func mapping(line, path string) (start, end uint64, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 5 || !strings.Contains(fields[0], "-") || strings.HasSuffix(fields[0], ":") {
		return 0, 0, false
	}
	lo, hi, _ := strings.Cut(fields[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	if len(fields) < 6 || fields[5] != path || len(fields[1]) < 2 || fields[1][1] == 'w' {
		return 0, 0, true // a mapping header, not a candidate
	}
	return start, end, true
}
