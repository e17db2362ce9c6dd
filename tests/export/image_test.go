//go:build linux

package export_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/confine-sandbox/confine/tests/imagetest"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// probeImage writes an OCI layout of two layers: the probe, an app user, /etc/motd,
// /gone, a directory /opq and a symlink /link -> /etc; then a layer that rewrites
// /etc/motd, whites out /gone and makes /opq opaque with a new file in it.
func probeImage(t *testing.T, dir string) {
	t.Helper()
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	base := []imagetest.Entry{
		{Name: "etc", Dir: true},
		{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/srv:/bin/sh\n")},
		{Name: "etc/group", Data: []byte("root:x:0:\napp:x:1001:\n")},
		{Name: "etc/motd", Data: []byte("layer one\n")},
		{Name: "gone", Data: []byte("x")},
		{Name: "opq", Dir: true},
		{Name: "opq/old", Data: []byte("old")},
		{Name: "probe", Data: bin, Mode: 0o755},
		{Name: "srv", Dir: true, UID: 1000, GID: 1001},
		{Name: "link", Link: "/etc"},
	}
	top := []imagetest.Entry{
		{Name: "etc/motd", Data: []byte("layer two\n")},
		{Name: ".wh.gone"},
		{Name: "opq", Dir: true},
		{Name: "opq/.wh..wh..opq"},
		{Name: "opq/new", Data: []byte("new")},
	}
	img, err := imagetest.Image(v1.Config{Entrypoint: []string{"/probe"}, User: "app", WorkingDir: "/srv"}, base, top)
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.WriteOCI(dir, img); err != nil {
		t.Fatal(err)
	}
}

// TestOCIBundleFromImage exports a component run from an image: the bundle's rootfs is
// the image's layers flattened (the top layer's file, not the whited-out one nor what an
// opaque directory hid, owners shifted so the image's ids show inside), runc runs the
// probe from it, the write path and the volume are writable and the root is not.
func TestOCIBundleFromImage(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Command("runc"))
	work := t.TempDir()
	os.Chmod(work, 0o755)
	os.Chmod(filepath.Dir(work), 0o755)
	store := filepath.Join(work, "store")
	probeImage(t, filepath.Join(work, "img"))
	probes := []string{"cat:/etc/motd", "read:/gone", "ls:/opq", "stat:/etc/motd", "stat:/srv", "id:",
		"cwd:", "write:/etc/motd", "write:/scratch/x", "write:/data/x", "cat:/link/motd"}
	src := "version: 1\nname: imgprobe\nrun: {image: oci:./img, command: [/probe, \"" + strings.Join(probes, "\", \"") + "\"]}\n" +
		"filesystem: {write: [/scratch, {path: /data, volume: exportvol}]}\nsyscalls: {extends: default}\n"
	file := filepath.Join(work, "probe.yaml")
	os.WriteFile(file, []byte(src), 0o644)
	pull := exec.Command(confineBin, "--store", store, "pull", "oci:./img")
	pull.Dir = work
	if out, err := pull.CombinedOutput(); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}

	t.Setenv("CONFINE_STORE", store)
	bundles := filepath.Join(work, "oci")
	doc := export(t, file, "oci", bundles)
	if doc.has("image") || !doc.has("volumes") {
		t.Errorf("findings %+v: want no image finding (the rootfs is filled), a volumes one", doc.Findings)
	}
	bundle := filepath.Join(bundles, "imgprobe")
	if fi, err := os.Lstat(filepath.Join(bundle, "rootfs", "link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("rootfs/link: %v %v, want the image's symlink", fi, err)
	}
	parent := fmt.Sprintf("confine-export-img-%d", os.Getpid())
	setCgroupsPath(t, filepath.Join(bundle, "config.json"), "/"+parent+"/probe")
	defer removeCgroupParent(parent)
	id := fmt.Sprintf("confine-export-img-%d", os.Getpid())
	runcRoot := filepath.Join(work, "runc")
	cmd := exec.Command("runc", "--root", runcRoot, "run", "--bundle", bundle, id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	exec.Command("runc", "--root", runcRoot, "delete", "-f", id).Run()
	if err != nil {
		t.Fatalf("runc run: %v\n%s\n%s", err, got, stderr.String())
	}
	res := results(string(got))
	want := map[string]string{"cat:/etc/motd": "layer two\n", "ls:/opq": "new", "stat:/etc/motd": "0:0",
		"stat:/srv": "1000:1001", "id:": "1000:1001", "cwd:": "/srv", "cat:/link/motd": "layer two\n"}
	for p, out := range want {
		if r := res[p]; !r.OK || r.Out != out {
			t.Errorf("%s: %+v, want %q", p, r, out)
		}
	}
	for p, ok := range map[string]bool{"read:/gone": false, "write:/etc/motd": false, "write:/scratch/x": true, "write:/data/x": true} {
		if r := res[p]; r.Probe == "" || r.OK != ok {
			t.Errorf("%s: %+v, want ok=%v", p, r, ok)
		}
	}
	if _, err := os.Stat(filepath.Join(bundle, "volumes", "exportvol", "x")); err != nil {
		t.Errorf("the volume's write is not in the bundle's volumes/exportvol: %v", err)
	}
}
