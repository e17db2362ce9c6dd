package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
	"golang.org/x/sys/unix"
)

// layerDirs makes one directory per layer, bottom first, each with the given files
// ("etc/passwd" → content; content "WHITEOUT" makes a 0/0 char device; "OPAQUE:etc"
// marks etc opaque).
func layerDirs(t *testing.T, layers ...map[string]string) *Image {
	t.Helper()
	img := &Image{}
	for _, files := range layers {
		d := t.TempDir()
		for name, content := range files {
			if dir, ok := strings.CutPrefix(name, "OPAQUE:"); ok {
				os.MkdirAll(filepath.Join(d, dir), 0o755)
				if err := unix.Setxattr(filepath.Join(d, dir), "user.overlay.opaque", []byte("y"), 0); err != nil {
					testenv.Missing(t, "user xattrs: %v", err)
				}
				continue
			}
			p := filepath.Join(d, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if content == "WHITEOUT" {
				if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
					testenv.Missing(t, "whiteout: %v", err)
				}
				continue
			}
			os.WriteFile(p, []byte(content), 0o644)
		}
		img.LayerDirs = append(img.LayerDirs, d)
		img.Layers = append(img.Layers, LayerInfo{Xattr: "user"})
	}
	return img
}

// TestLookupUser: names resolve in the merged view, top layer first; whiteouts and
// opaque directories hide the layers below; a link is not followed.
func TestLookupUser(t *testing.T) {
	base := map[string]string{"etc/passwd": "root:x:0:0::/:/bin/sh\nold:x:7:7::/:/bin/sh\n", "etc/group": "root:x:0:\nstaff:x:50:\n"}
	top := map[string]string{"etc/passwd": "root:x:0:0::/:/bin/sh\napp:x:1000:1001::/:/bin/sh\n"}
	img := layerDirs(t, base, top)
	for spec, want := range map[string][2]uint32{"app": {1000, 1001}, "app:staff": {1000, 50}, "1000": {1000, 1001}, "42": {42, 0}, "42:9": {42, 9}} {
		uid, gid, err := img.LookupUser(spec)
		if err != nil || uid != want[0] || gid != want[1] {
			t.Errorf("%s: %d:%d %v, want %v", spec, uid, gid, err, want)
		}
	}
	if _, _, err := img.LookupUser("old"); err == nil {
		t.Error("a user of a lower passwd that the top one replaced resolved")
	}
	if _, _, err := layerDirs(t, base, map[string]string{"etc/passwd": "WHITEOUT"}).LookupUser("old"); err == nil || !strings.Contains(err.Error(), "no /etc/passwd") {
		t.Errorf("a whited-out passwd: %v", err)
	}
	if _, _, err := layerDirs(t, base, map[string]string{"OPAQUE:etc": ""}).LookupUser("old"); err == nil {
		t.Error("an opaque /etc let the lower passwd through")
	}
	linked := layerDirs(t, map[string]string{"etc/x": ""})
	os.Symlink("/etc/passwd", filepath.Join(linked.LayerDirs[0], "etc", "passwd"))
	if _, _, err := linked.LookupUser("root"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a passwd that is a link to the host's: %v", err)
	}
}

// TestVolumes: a volume is made on first use owned as asked, kept after release, and
// rm refuses while a run holds it.
func TestVolumes(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir, release, err := s.UseVolume("data", uint32(os.Getuid()), uint32(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kept"), []byte("x"), 0o644)
	if err := s.RemoveVolume("data"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("rm while in use: %v", err)
	}
	if v, err := s.Volume("data"); err != nil || !v.InUse {
		t.Errorf("inspect: %+v %v", v, err)
	}
	release()
	dir2, release2, err := s.UseVolume("data", 0, 0)
	if err != nil || dir2 != dir {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "kept")); err != nil {
		t.Errorf("the volume lost its data: %v", err)
	}
	release2()
	if err := s.RemoveVolume("data"); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.Volumes(); len(vs) != 0 {
		t.Errorf("volumes after rm: %v", vs)
	}
	if _, _, err := s.UseVolume("../x", 0, 0); err == nil {
		t.Error("a volume name with a slash was accepted")
	}
}
