package image

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestLoadDockerArchive: a docker save format tarball (tarball.Write) loads under its
// RepoTags, with its files, and pulls as docker-archive:PATH too.
func TestLoadDockerArchive(t *testing.T) {
	img := imageOf(t, tarBytes(t, ent{name: "app/run", body: "#!/bin/sh\n", mode: 0o755}))
	f := filepath.Join(t.TempDir(), "app.tar")
	tag, _ := name.NewTag("example.com/team/app:1.0")
	if err := tarball.WriteToFile(f, tag, img); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	recs, err := s.Load(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Name != "example.com/team/app:1.0" {
		t.Fatalf("records %+v", recs)
	}
	got, err := s.Image(mustHash(t, recs[0].Digest))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got.LayerDirs[0], "app/run")); err != nil || string(b) != "#!/bin/sh\n" {
		t.Errorf("app/run: %q %v", b, err)
	}
	if cd, _ := img.ConfigName(); got.ConfigDigest != cd {
		t.Errorf("config digest %s, want %s", got.ConfigDigest, cd)
	}
	rec, err := s.Pull(context.Background(), "docker-archive:"+f, nil)
	if err != nil || rec.Digest != recs[0].Digest {
		t.Fatalf("pull docker-archive: %v %+v", err, rec)
	}
	tmpEmpty(t, s)
}

// TestLoadOCILayout: an OCI layout (directory and tarball) loads under the ref.name
// annotation; oci:PATH:TAG picks the image by that annotation.
func TestLoadOCILayout(t *testing.T) {
	img := imageOf(t, tarBytes(t, ent{name: "etc/motd", body: "hi"}))
	dir := writeLayout(t, img, "registry.example/team/app:2.0")
	s := newStore(t)
	recs, err := s.Load(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := digestOfImage(t, img).String()
	if len(recs) != 1 || recs[0].Name != "registry.example/team/app:2.0" || recs[0].Digest != want {
		t.Fatalf("records %+v, want %s", recs, want)
	}
	// The same layout as a tarball.
	f := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, dir, f)
	s2 := newStore(t)
	if recs, err = s2.Load(context.Background(), f, nil); err != nil || len(recs) != 1 || recs[0].Digest != want {
		t.Fatalf("OCI tarball: %v %+v", err, recs)
	}
	// oci:PATH:TAG selects by annotation; a missing one is refused.
	tagged := writeLayout(t, img, "stable")
	if rec, err := s.Pull(context.Background(), "oci:"+tagged+":stable", nil); err != nil || rec.Digest != want {
		t.Fatalf("oci:PATH:TAG: %v %+v", err, rec)
	}
	if _, err := s.Pull(context.Background(), "oci:"+tagged+":other", nil); err == nil {
		t.Error("oci:PATH:TAG with a tag the layout lacks succeeded")
	}
}

// tarDir writes dir as a tar file (what `tar -cf f -C dir .` makes).
func tarDir(t *testing.T, dir, f string) {
	out, err := os.Create(f)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	defer tw.Close()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		st, _ := d.Info()
		h, _ := tar.FileInfoHeader(st, "")
		h.Name = filepath.ToSlash(rel)
		tw.WriteHeader(h)
		if st.Mode().IsRegular() {
			in, _ := os.Open(p)
			io.Copy(tw, in)
			in.Close()
		}
		return nil
	})
}

// TestRemoveAndPrune: rm frees what only its image used and keeps shared layers; a run
// reference keeps an image's content after rm until the reference goes; prune removes
// what an interrupted pull left.
func TestRemoveAndPrune(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	shared := tarBytes(t, ent{name: "shared", body: "s"})
	a := imageOf(t, shared, tarBytes(t, ent{name: "a", body: "a"}))
	b := imageOf(t, shared, tarBytes(t, ent{name: "b", body: "b"}))
	ra, err := s.Pull(ctx, "oci:"+writeLayout(t, a, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := s.Pull(ctx, "oci:"+writeLayout(t, b, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	countLayers := func() int {
		es, _ := os.ReadDir(filepath.Join(s.Dir, "layers", "sha256"))
		return len(es)
	}
	if n := countLayers(); n != 3 {
		t.Fatalf("%d layers, want 3", n)
	}
	run, err := s.newRun() // a run of an older confine: its dir flocked, then its reference
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddRef(run.ID, mustHash(t, rb.Digest)); err != nil {
		t.Fatal(err)
	}
	if _, rep, err := s.Remove(ra.Name); err != nil || rep.Layers != 1 || countLayers() != 2 {
		t.Fatalf("rm a: %v %+v, %d layers left", err, rep, countLayers())
	}
	if _, rep, err := s.Remove(rb.Digest); err != nil || rep.Layers != 0 {
		t.Fatalf("rm b while a run uses it: %v %+v", err, rep)
	}
	if _, err := s.Image(mustHash(t, rb.Digest)); err != nil {
		t.Fatalf("b's content is gone while a run uses it: %v", err)
	}
	// An interrupted pull's leftovers: a work dir no pull holds.
	os.MkdirAll(filepath.Join(s.Dir, "tmp", "pull-dead", "layer-x", "root"), 0o700)
	s.RemoveRef(run.ID)
	run.Close()
	rep, err := s.Prune()
	if err != nil || rep.Layers != 2 || rep.Blobs != 2 || rep.Work != 1 || countLayers() != 0 {
		t.Fatalf("prune: %v %+v, %d layers left", err, rep, countLayers())
	}
	tmpEmpty(t, s)
}
