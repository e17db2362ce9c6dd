package plancache

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestEntryRoundTrip: decodeEntry reads what encode wrote, and refuses it under another
// key or with anything after it.
func TestEntryRoundTrip(t *testing.T) {
	e := entry{key: "k", deps: []dep{{name: "a.yaml"}, {name: "b\nc.yaml"}}, abs: []absName{{"a.yaml", "/x/a.yaml"}}, plan: []byte(`{"version":1}`)}
	e.deps[1].sum[3] = 7
	data := e.encode()
	got, ok := decodeEntry(data, "k")
	if !ok || !reflect.DeepEqual(got, e) {
		t.Errorf("decoded %+v, %v; want %+v", got, ok, e)
	}
	if _, ok := decodeEntry(data, "k2"); ok {
		t.Error("an entry was read under another key")
	}
	if _, ok := decodeEntry(append(data, 0), "k"); ok {
		t.Error("an entry with a byte after it was read")
	}
}

// TestPrune: a store holding more entries than it keeps loses its oldest.
func TestPrune(t *testing.T) {
	s := &store{dir: t.TempDir(), owner: os.Geteuid()}
	os.Chmod(s.dir, 0o700)
	os.WriteFile(filepath.Join(s.dir, "not-an-entry"), nil, 0o600)
	base := time.Now().Add(-time.Hour)
	name := func(i int) string { return fmt.Sprintf("%064x", i) }
	for i := range maxEntries {
		p := filepath.Join(s.dir, name(i))
		os.WriteFile(p, []byte("x"), 0o600)
		os.Chtimes(p, base.Add(time.Duration(i)*time.Second), base.Add(time.Duration(i)*time.Second))
	}
	s.write(name(maxEntries), []byte("new"))
	left, _ := filepath.Glob(filepath.Join(s.dir, "*"))
	if len(left) != keepEntries+1 {
		t.Errorf("%d files left, want %d entries and the file not the store's", len(left), keepEntries)
	}
	for _, i := range []int{0, maxEntries - keepEntries} {
		if _, err := os.Stat(filepath.Join(s.dir, name(i))); err == nil {
			t.Errorf("entry %d, among the oldest, is left", i)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(s.dir, name(maxEntries))); string(data) != "new" {
		t.Error("the newest entry is gone")
	}
}
