package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testStore is an idStore over files in a fresh directory, seeded with subuid and subgid.
func testStore(t *testing.T, subuid, subgid, passwd string) idStore {
	t.Helper()
	dir := t.TempDir()
	st := idStore{subuid: filepath.Join(dir, "subuid"), subgid: filepath.Join(dir, "subgid"),
		passwd: filepath.Join(dir, "passwd"), group: filepath.Join(dir, "group"), dir: filepath.Join(dir, "ids")}
	for path, content := range map[string]string{st.subuid: subuid, st.subgid: subgid, st.passwd: passwd} {
		if content != "" {
			os.WriteFile(path, []byte(content), 0o644)
		}
	}
	return st
}

func TestRangeFirstUseReserves(t *testing.T) {
	st := testStore(t, "alice:100000:65536", "alice:100000:65536\n", "root:x:0:0::/root:/bin/sh\n")
	r, err := st.rangeFor("", "web")
	if err != nil {
		t.Fatal(err)
	}
	if r.UID != reserveStart || r.GID != reserveStart {
		t.Errorf("first range %+v, want the reservation's start %d", r, reserveStart)
	}
	for _, f := range []string{st.subuid, st.subgid} {
		data, _ := os.ReadFile(f)
		want := fmt.Sprintf("alice:100000:65536\nconfine:%d:%d\n", reserveStart, reserveCount)
		if string(data) != want {
			t.Errorf("%s:\n%s\nwant:\n%s", f, data, want)
		}
	}
	// The same key gets the same range; another key the next one; a stack's component
	// is keyed apart from a lone run of the same name. Nothing is reserved twice.
	for _, tc := range []struct {
		stack, name string
		uid         uint32
	}{{"", "web", reserveStart}, {"", "db", reserveStart + RangeSize}, {"shop", "web", reserveStart + 2*RangeSize}, {"", "web", reserveStart}} {
		r, err := st.rangeFor(tc.stack, tc.name)
		if err != nil || r.UID != tc.uid || r.GID != tc.uid {
			t.Errorf("%s/%s: %+v %v, want uid and gid %d", tc.stack, tc.name, r, err, tc.uid)
		}
	}
	if data, _ := os.ReadFile(st.subuid); strings.Count(string(data), "confine:") != 1 {
		t.Errorf("reserved twice:\n%s", data)
	}
}

func TestRangeAvoidsCollisions(t *testing.T) {
	// An existing entry covers the default reservation: the new one goes past it.
	busy := fmt.Sprintf("bob:%d:65536\n", reserveStart+5*RangeSize)
	st := testStore(t, busy, "", "")
	r, err := st.rangeFor("", "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(reserveStart + 6*RangeSize); r.UID != want || r.GID != want {
		t.Errorf("range %+v, want %d past bob's entry", r, want)
	}
	// An entry the admin wrote is used as it stands, and a record outside it is refused.
	st = testStore(t, "confine:300000:131072\n", "confine:500000:131072\n", "")
	a, _ := st.rangeFor("", "a")
	b, _ := st.rangeFor("", "b")
	_, err = st.rangeFor("", "c")
	if a != (idRange{300000, 500000}) || b != (idRange{365536, 565536}) || err == nil || !strings.Contains(err.Error(), "remove the records") {
		t.Errorf("a %+v, b %+v, c: %v; want two ranges then exhaustion", a, b, err)
	}
	os.WriteFile(st.subuid, []byte("confine:900000:65536\n"), 0o644)
	if _, err := st.rangeFor("", "a"); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a record outside the reservation: %v", err)
	}
	if _, err := st.rangeFor("", "../x"); err == nil {
		t.Error("a key with a path in it was accepted")
	}
}

// Concurrent first starts of different components get different ranges.
func TestRangeConcurrent(t *testing.T) {
	st := testStore(t, "", "", "")
	var wg sync.WaitGroup
	got := make([]idRange, 16)
	errs := make([]error, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = st.rangeFor("s", fmt.Sprintf("c%d", i))
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for i, r := range got {
		if errs[i] != nil || seen[r.UID] {
			t.Errorf("c%d: %+v %v (duplicate or failed)", i, r, errs[i])
		}
		seen[r.UID] = true
	}
}

// TestLoneRunLease: a lone run holds its range for the process's life; a run beside it
// (another process: another lease table) gets a range of its own, recorded as "web+2";
// once the first ends, the next run gets the first's range again, and a stack's
// component is not leased.
func TestLoneRunLease(t *testing.T) {
	st := testStore(t, "", "", "")
	first, second := st, st
	first.leases, second.leases = &leaseTable{held: map[string]string{}}, &leaseTable{held: map[string]string{}}
	a, err := first.rangeFor("", "web")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := first.rangeFor("", "web"); again != a {
		t.Errorf("the same run started web again with %+v, first %+v", again, a)
	}
	b, err := second.rangeFor("", "web")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("two runs at once share range %+v", a)
	}
	if r, err := st.recorded("web+2"); err != nil || r != b {
		t.Errorf("the second run's range is recorded as %+v (%v), want %+v", r, err, b)
	}
	for _, f := range first.leases.files {
		f.Close() // the first run ends
	}
	third := st
	third.leases = &leaseTable{held: map[string]string{}}
	if c, _ := third.rangeFor("", "web"); c != a {
		t.Errorf("a run after the first ended got %+v, want the first's %+v", c, a)
	}
	s1, _ := first.rangeFor("s", "web")
	s2, _ := second.rangeFor("s", "web")
	if s1 != s2 {
		t.Errorf("a stack's component got %+v and %+v", s1, s2)
	}
	for _, tb := range []*leaseTable{second.leases, third.leases} {
		for _, f := range tb.files {
			f.Close()
		}
	}
}
