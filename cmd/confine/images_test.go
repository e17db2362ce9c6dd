//go:build !confine_slim

package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageCommands walks the image commands over one store: pull from an OCI layout,
// images --json, image inspect, load of a docker save archive, rm and prune.
func TestImageCommands(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, _ := layout.Write(dir, empty.Index)
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	code, out, errOut := run("--store", store, "pull", "oci:"+dir)
	if code != 0 || !strings.Contains(out, digest.String()) || !strings.Contains(errOut, ": done") {
		t.Fatalf("pull: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = run("--store", store, "pull", "--quiet", "oci:"+dir); code != 0 || errOut != "" {
		t.Errorf("pull --quiet: %d, stderr %q", code, errOut)
	}

	arch := filepath.Join(t.TempDir(), "app.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(arch, tag, img); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONFINE_STORE", store)
	if code, out, errOut = run("load", arch); code != 0 || !strings.Contains(out, "example.com/app:1 sha256:") {
		t.Fatalf("load: %d %q %q", code, out, errOut)
	}

	code, out, _ = run("images", "--json")
	var recs []map[string]any
	if err := json.Unmarshal([]byte(out), &recs); code != 0 || err != nil || len(recs) != 2 {
		t.Fatalf("images --json: %d %v %q", code, err, out)
	}
	for _, k := range []string{"name", "digest", "config_digest", "size", "created"} {
		if _, ok := recs[0][k]; !ok {
			t.Errorf("images --json lacks %q: %v", k, recs[0])
		}
	}
	code, out, _ = run("image", "inspect", "example.com/app:1")
	var v inspection
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || len(v.Layers) != 2 || v.Layers[0].DiffID == "" {
		t.Fatalf("image inspect: %d %v %q", code, err, out)
	}
	if code, _, errOut = run("image", "inspect", "nope:1"); code != 1 || !strings.Contains(errOut, "not in the store") {
		t.Errorf("inspect of a missing image: %d %q", code, errOut)
	}
	if code, out, _ = run("image", "rm", "example.com/app:1"); code != 0 || !strings.Contains(out, "removed example.com/app:1") {
		t.Errorf("image rm: %d %q", code, out)
	}
	if code, out, _ = run("image", "rm", "oci:"+dir); code != 0 || !strings.Contains(out, "freed 2 layers") {
		t.Errorf("image rm of the last name: %d %q", code, out)
	}
	if code, out, _ = run("image", "prune"); code != 0 || !strings.Contains(out, "freed 0 layers") {
		t.Errorf("image prune: %d %q", code, out)
	}
	if code, out, _ = run("images"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("images after rm: %q", out)
	}
}

// TestPullFromRegistry: pull over plain HTTP from a registry on 127.0.0.1, by tag; a
// digest the registry lacks exits 1 and names the reference.
func TestPullFromRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(256, 1)
	tag, _ := name.NewTag(host+"/team/app:v1", name.Insecure)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(t.TempDir(), "store")
	d, _ := img.Digest()
	code, out, errOut := run("pull", "--store", store, host+"/team/app:v1")
	if code != 0 || out != host+"/team/app:v1 "+d.String()+"\n" {
		t.Fatalf("pull: %d %q %q", code, out, errOut)
	}
	bad := host + "/team/app@sha256:" + strings.Repeat("0", 64)
	if code, _, errOut = run("pull", "--store", store, bad); code != 1 || !strings.Contains(errOut, bad) {
		t.Errorf("pull of a missing digest: %d %q", code, errOut)
	}
}
