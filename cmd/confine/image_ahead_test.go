//go:build !confine_slim

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// tree lists every path under dir with its size and modification time.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p+" "+fi.ModTime().String()+" "+fi.Mode().String())
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// ociImage writes an OCI layout of a random image with user 0 and returns its path.
func ociImage(t *testing.T) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Cmd: []string{"/bin/true"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err == nil {
		err = p.AppendImage(img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStoreAhead: the compile ahead's resolver reads the store as it is. An image in
// the store gives the facts run's own resolver gives, the store left as it was; an image
// the store lacks is an error and is not pulled (run's resolver then pulls it); a store
// that does not exist is none, and is not made.
func TestStoreAhead(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	if r := storeAhead(store); r != nil {
		t.Errorf("a store that does not exist gave a resolver")
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("storeAhead made the store: %v", err)
	}
	pulled, absent := "oci:"+ociImage(t), "oci:"+ociImage(t)
	if code, _, errOut := run("--store", store, "pull", "--quiet", pulled); code != 0 {
		t.Fatalf("pull: %s", errOut)
	}
	before := tree(t, store)
	r := storeAhead(store)
	if r == nil {
		t.Fatal("no resolver for the store")
	}
	got, err := r.ResolveImage(pulled)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ResolveImage(absent); err == nil || !strings.Contains(err.Error(), "not in the store") {
		t.Errorf("an image the store lacks: %v, want not in the store", err)
	}
	if after := tree(t, store); !reflect.DeepEqual(before, after) {
		t.Errorf("the resolver ahead changed the store:\n%q\n%q", before, after)
	}
	t.Setenv("CONFINE_STORE", store)
	full := &storeResolver{pull: true, progress: os.Stderr}
	want, err := full.ResolveImage(pulled)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("the resolver ahead gave %+v, run's %+v (%v)", got, want, err)
	}
	if _, err := full.ResolveImage(absent); err != nil {
		t.Errorf("run's resolver did not pull the image the store lacked: %v", err)
	}
	if r := storeAhead(""); r == nil {
		t.Error("CONFINE_STORE named no store ahead")
	} else if _, err := r.ResolveImage(absent); err != nil {
		t.Errorf("after run's pull, the store ahead lacks the image: %v", err)
	}
}
