package compileahead

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
)

// storeImages is a resolver of one store (dir) whose records the test sets.
type storeImages struct {
	dir    string
	facts  policy.ImageFacts
	called int
}

func (s *storeImages) ResolveImage(string) (*policy.ImageFacts, error) {
	s.called++
	f := s.facts
	return &f, nil
}
func (s *storeImages) StoreDir() string { return s.dir }

// The stores the kept Plans' look-up sees: directory -> reference -> digest.
var records = map[string]map[string]string{}

func init() {
	plancache.SetImages(func(flag string) string {
		if flag == "" {
			return "/stores/default"
		}
		return filepath.Join("/stores", flag)
	}, func(dir string) []byte {
		b, _ := json.Marshal(records[dir])
		return b
	}, func(dir string, index []byte, ref string) string {
		var recs map[string]string
		json.Unmarshal(index, &recs)
		return recs[ref]
	})
}

// TestKeptImages: a Plan whose compile resolved run.image through a resolver that names
// its store is kept with the digest, and taken (no compile, no resolve) while the
// command reads that store and it records that digest for the reference (whatever else
// its index records): not once the reference moved to another digest or went, from
// another store, or when the command line leaves the store unsure. The Plan taken is
// the one compiled.
func TestKeptImages(t *testing.T) {
	c, cdir := testCache(t)
	file := filepath.Join(t.TempDir(), "img.yaml")
	writeAt(t, file, "version: 1\nname: img\nrun: {image: \"alpine:3\"}\nsyscalls: {extends: default}\n")
	d1, d2 := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("c", 64)
	r := &storeImages{dir: "/stores/default", facts: policy.ImageFacts{Digest: d1, ConfigDigest: "sha256:" + strings.Repeat("b", 64), Cmd: []string{"/bin/sh"}}}
	records["/stores/default"] = map[string]string{"alpine:3": d1}
	want, err := CompileKept(c, file, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := entries(t, cdir); len(n) != 1 {
		t.Fatalf("kept %v, want the Plan of the image", n)
	}
	if p, err := CompileKept(c, file, r, nil); err != nil || !reflect.DeepEqual(p, want) || r.called != 1 {
		t.Errorf("the store as it was: %v, resolved %d times; want the kept Plan, resolved once; differences: %v", err, r.called, differences(p, want))
	}
	c.Store = "other"
	if taken(t, c, file) != nil {
		t.Error("a Plan of the default store was taken for --store other")
	}
	c.Store, c.StoreUnsure = "", true
	if taken(t, c, file) != nil {
		t.Error("a Plan with an image was taken where the store is unsure")
	}
	c.StoreUnsure = false
	records["/stores/default"]["alpine:3"] = d2
	if taken(t, c, file) != nil {
		t.Error("a Plan was taken after the reference moved to another digest")
	}
	delete(records["/stores/default"], "alpine:3")
	if taken(t, c, file) != nil {
		t.Error("a Plan was taken after the image left the store")
	}
	records["/stores/default"]["alpine:3"] = d1
	if taken(t, c, file) == nil {
		t.Error("the Plan was not taken once the store recorded its digest again")
	}
	records["/stores/default"]["other:1"] = d2
	if taken(t, c, file) == nil {
		t.Error("the Plan was not taken once the store recorded another image beside it")
	}
}
