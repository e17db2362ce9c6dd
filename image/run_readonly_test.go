package image

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

func pinOf(img *Image) *plan.Image {
	p := &plan.Image{Ref: "test", Digest: img.Digest.String(), ConfigDigest: img.ConfigDigest.String()}
	for _, d := range img.DiffIDs {
		p.DiffIDs = append(p.DiffIDs, d.String())
	}
	return p
}

// TestRunReadOnly: a run that writes nothing into its root gets no upper when the image
// has each of its mount points as a directory or lacks it in every layer: its lowers are
// the store's (the image's layers, under the layer of mount points: two at least, as an
// overlay without an upper needs), and Close leaves neither its dir nor its reference. A
// point the image whites out, has as a file, or hides under an opaque root, or a run that
// writes, gets an upper as before.
func TestRunReadOnly(t *testing.T) {
	s := newStore(t)
	dir := func(n string) ent { return ent{name: n + "/", typ: tar.TypeDir, mode: 0o755} }
	one, err := pullTars(t, s, tarBytes(t, dir("etc"), dir("tmp"), ent{name: "dev", body: "x"}, ent{name: "etc/motd", body: "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	two, err := pullTars(t, s, tarBytes(t, dir("proc"), dir("tmp"), dir("etc")), tarBytes(t, ent{name: ".wh.proc"}))
	if err != nil {
		t.Fatal(err)
	}
	opq, err := pullTars(t, s, tarBytes(t, dir("tmp"), dir("srv")), tarBytes(t, ent{name: ".wh..wh..opq"}, dir("srv")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		img    *Image
		writes bool
		points []string
		upper  bool
		lowers int
	}{
		{"one layer, points it has", one, false, []string{"tmp"}, false, 2},
		{"one layer, points it lacks", one, false, []string{"proc", "tmp"}, false, 2},
		{"a file where a point goes", one, false, []string{"dev"}, true, 1},
		{"writes", one, true, []string{"tmp"}, true, 1},
		{"two layers, points they have", two, false, []string{"tmp", "etc"}, false, 2},
		{"a point whited out", two, false, []string{"proc"}, true, 2},
		{"beneath an opaque root", opq, false, []string{"tmp"}, true, 2},
		{"in the opaque layer", opq, false, []string{"srv"}, false, 2},
	} {
		r, err := s.RunImage(pinOf(tc.img), tc.writes, tc.points...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := r.Upper != "" && r.Work != ""; got != tc.upper || (r.Upper == "") != (r.Work == "") {
			t.Errorf("%s: upper %q work %q, want an upper: %v", tc.name, r.Upper, r.Work, tc.upper)
		}
		if len(r.Lowers()) != tc.lowers {
			t.Errorf("%s: lowers %q, want %d", tc.name, r.Lowers(), tc.lowers)
		}
		for _, l := range r.Lowers() {
			if !strings.HasPrefix(l, s.Dir+"/") {
				t.Errorf("%s: lower %s is outside the store", tc.name, l)
			}
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "refs", r.ID)); err != nil {
			t.Errorf("%s: no reference while the run lasts: %v", tc.name, err)
		}
		r.Mounted() // nothing to remove without an upper
		if err := r.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.name, err)
		}
		if left, _ := filepath.Glob(filepath.Join(s.Dir, "r*s", "*")); len(left) != 0 {
			t.Errorf("%s: Close left %v", tc.name, left)
		}
	}
}
