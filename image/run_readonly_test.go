package image

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
// the store's (the image's layers, always under the layer of mount points, whose root
// is the run's / as an upper's was: 0755, root's), and Close leaves nothing of it in
// the store. A point the image whites out, has as a file, or hides under an opaque
// root, or a run that writes, gets an upper as before.
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
	top700, err := pullTars(t, s, tarBytes(t, dir("tmp")), tarBytes(t, ent{name: "./", typ: tar.TypeDir, mode: 0o700}, ent{name: "x", body: "x"}))
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
		{"two layers, points they have", two, false, []string{"tmp", "etc"}, false, 3},
		{"a point whited out", two, false, []string{"proc"}, true, 2},
		{"beneath an opaque root", opq, false, []string{"tmp"}, true, 2},
		{"in the opaque layer", opq, false, []string{"srv"}, false, 3},
		{"a layer's own root 0700", top700, false, []string{"tmp"}, false, 3},
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
		// Without an upper, the run's / is the top lower's root: the layer of mount
		// points', 0755 and root's, whatever the image's "./" says.
		if st, err := os.Stat(r.Lowers()[0]); !tc.upper && (err != nil || st.Mode().Perm() != 0o755 ||
			st.Sys().(*syscall.Stat_t).Uid != 0 || !strings.HasPrefix(r.Lowers()[0], filepath.Join(s.Dir, "mounts")+"/")) {
			t.Errorf("%s: the top lower %s (%v, %v) is not the layer of mount points", tc.name, r.Lowers()[0], st, err)
		}
		for _, l := range r.Lowers() {
			if !strings.HasPrefix(l, s.Dir+"/") {
				t.Errorf("%s: lower %s is outside the store", tc.name, l)
			}
		}
		r.Mounted() // nothing to remove without an upper
		if err := r.Close(); err != nil {
			t.Errorf("%s: close: %v", tc.name, err)
		}
		if left, _ := filepath.Glob(filepath.Join(s.Dir, "r[u]*", "*")); len(left) != 0 {
			t.Errorf("%s: Close left %v", tc.name, left)
		}
	}
}

// TestHoldKeepsImage: an image a run holds survives its rm (and a prune), without a
// file of the run's in refs/; once the run lets it go, be it by Close or by its
// process's end (the lock closed, as a SIGKILL closes it), prune removes it and its hold.
func TestHoldKeepsImage(t *testing.T) {
	s := newStore(t)
	img, err := pullTars(t, s, tarBytes(t, ent{name: "etc/motd", body: "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, closeRun := range []bool{true, false} {
		rec, err := s.Pull(context.Background(), "oci:"+writeLayout(t, imageOf(t, tarBytes(t, ent{name: "etc/motd", body: "hi"})), ""), nil)
		if err != nil || rec.Digest != img.Digest.String() {
			t.Fatalf("pull: %v %v", err, rec)
		}
		r, err := s.RunImage(pinOf(img), false)
		if err != nil {
			t.Fatal(err)
		}
		if refs, _ := os.ReadDir(filepath.Join(s.Dir, "refs")); len(refs) != 0 {
			t.Errorf("the run wrote references: %v", refs)
		}
		if _, rep, err := s.Remove(img.Digest.String()); err != nil || rep.Layers != 0 {
			t.Fatalf("rm of a held image: %v %+v", err, rep)
		}
		if _, err := s.Image(img.Digest); err != nil {
			t.Fatalf("the held image is gone: %v", err)
		}
		if closeRun {
			r.Close()
		} else {
			r.hold.Close()
		}
		if rep, err := s.Prune(); err != nil || rep.Layers != 1 {
			t.Fatalf("prune once the run let go (Close %v): %v %+v", closeRun, err, rep)
		}
		if hs, _ := os.ReadDir(filepath.Join(s.Dir, "holds")); len(hs) != 0 {
			t.Errorf("prune left the hold of an image it removed: %v", hs)
		}
		if _, err := s.RunImage(pinOf(img), false); err == nil {
			t.Error("a run of the removed image started")
		}
	}
}

// TestPruneDeadRef: the reference of a run of an older confine that was killed (its
// runs/ID no longer flocked, or gone) keeps nothing: prune drops it and its run dir,
// and frees the image once rm dropped its name, though no run with an upper came to
// sweep runs/. A live one's reference keeps its image (TestRemoveAndPrune).
func TestPruneDeadRef(t *testing.T) {
	s := newStore(t)
	img, err := pullTars(t, s, tarBytes(t, ent{name: "etc/motd", body: "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.Dir, "runs", "run-killed", "upper"), 0o700)
	for _, id := range []string{"run-killed", "run-gone"} {
		if err := s.AddRef(id, img.Digest); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.RunImage(pinOf(img), false) // a run without an upper: no sweep of runs/
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, rep, err := s.Remove(img.Digest.String()); err != nil || rep.Layers != 1 {
		t.Errorf("rm of an image only dead runs referenced: %v %+v", err, rep)
	}
	for _, d := range []string{"refs", "runs"} {
		if left, _ := os.ReadDir(filepath.Join(s.Dir, d)); len(left) != 0 {
			t.Errorf("prune left %s/%v", d, left)
		}
	}
}
