//go:build linux

package run_test

import (
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/confine-sandbox/confine/tests/imagetest"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestImageRootDir: the root directory of an image run is the component's root's,
// 0755, whatever a layer's own root entry ("./") says, with an upper or without: an
// image whose top layer has "./" as 0700, and every mount point the run needs, runs as
// an unprivileged user in both init stages (overlayfs shows the topmost layer's root
// directory; without an upper that was the image's).
func TestImageRootDir(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagetest.Image(v1.Config{Entrypoint: []string{"/probe"}}, []imagetest.Entry{
		{Name: "proc", Dir: true}, {Name: "dev", Dir: true}, {Name: "tmp", Dir: true},
		{Name: "etc", Dir: true}, {Name: "etc/motd", Data: []byte("bottom\n")},
		{Name: "probe", Data: bin, Mode: 0o755},
	}, []imagetest.Entry{
		{Name: "./", Dir: true, Mode: 0o700, UID: 1000, GID: 1000},
		{Name: "etc/motd", Data: []byte("top\n")},
	})
	if err == nil {
		err = imagetest.WriteOCI(filepath.Join(dir, "img"), img)
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := confine(t, store, "pull", "oci:"+filepath.Join(dir, "img")); code != 0 {
		t.Fatalf("pull: %d\n%s\n%s", code, out, errOut)
	}
	for name, fs := range map[string]string{"ro": "{tmpfs: [/tmp]}", "rw": "{write: [/scratch]}"} {
		policy := filepath.Join(dir, name+".yaml")
		os.WriteFile(policy, []byte("version: 1\nname: rootdir"+name+"\nrun: {image: oci:./img, user: \"2000:2000\"}\nfilesystem: "+fs+"\nsyscalls: {extends: default}\n"), 0o644)
		for _, mode := range []string{"c", "go"} {
			code, out, stderr := runStaged(t, store, mode, "run", policy, "--", "cat:/etc/motd", "stat:/")
			res := results(out)
			if code != 0 || res["cat:/etc/motd"].Out != "top\n" || res["stat:/"].Out != "0:0" {
				t.Errorf("%s, %s: %d %v\n%s", name, mode, code, res, stderr)
			}
		}
	}
}
