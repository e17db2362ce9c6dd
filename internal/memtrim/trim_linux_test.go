package memtrim

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// exeMapping is one mapping of the test binary, as /proc/self/smaps shows it.
type exeMapping struct {
	perms          string
	rss, anonymous int // kB
}

func exeMappings(t *testing.T) map[string]exeMapping {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]exeMapping{}
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			cur = ""
			if len(fields) >= 6 && fields[5] == exe {
				cur = fields[0]
				out[cur] = exeMapping{perms: fields[1]}
			}
			continue
		}
		if cur == "" || len(fields) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(fields[1])
		m := out[cur]
		switch fields[0] {
		case "Rss:":
			m.rss = kb
		case "Anonymous:":
			m.anonymous = kb
		}
		out[cur] = m
	}
	return out
}

// TestTrimDropsTextKeepsWritten: the text mapping's pages go, and every page of the
// binary that was written (data, bss, the loader's RELRO page) stays, so that the process
// goes on with what it wrote.
func TestTrimDropsTextKeepsWritten(t *testing.T) {
	before := exeMappings(t)
	Trim()
	after := exeMappings(t)
	sawText := false
	for addr, b := range before {
		a, ok := after[addr]
		if !ok {
			t.Fatalf("mapping %s is gone after Trim", addr)
		}
		if b.anonymous > 0 && a.anonymous < b.anonymous {
			t.Errorf("mapping %s (%s) lost written pages: Anonymous %d kB, was %d kB", addr, b.perms, a.anonymous, b.anonymous)
		}
		if b.perms == "r-xp" {
			sawText = true
			// Trim's own return path maps some of it back: much less, not none.
			if a.rss >= b.rss {
				t.Errorf("text mapping %s: Rss %d kB after Trim, %d kB before: nothing was unmapped", addr, a.rss, b.rss)
			}
		}
	}
	if !sawText {
		t.Fatal("no r-xp mapping of the test binary in /proc/self/smaps")
	}
	// The code unmapped above still runs, faulted back from the page cache.
	if got := strconv.Itoa(42) + strings.Repeat("x", 2); got != "42xx" {
		t.Fatalf("after Trim: %q", got)
	}
}
