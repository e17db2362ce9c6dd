package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestWhiteoutsBecomeOverlayForm: .wh.NAME becomes a 0/0 character device, .wh..wh..opq
// the opaque xattr, an absolute symlink is kept as written, a file keeps its content.
func TestWhiteoutsBecomeOverlayForm(t *testing.T) {
	s := newStore(t)
	img, err := pullTars(t, s,
		tarBytes(t, ent{name: "etc/", typ: tar.TypeDir, mode: 0o755}, ent{name: "etc/gone", body: "x"},
			ent{name: "var/cache/old", body: "x"}),
		tarBytes(t, ent{name: "etc/.wh.gone"}, ent{name: "var/cache/.wh..wh..opq"},
			ent{name: "lib64", typ: tar.TypeSymlink, link: "/usr/lib64"}, ent{name: "etc/hostname", body: "box\n"}))
	if err != nil {
		t.Fatal(err)
	}
	top := img.LayerDirs[1]
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(top, "etc/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/gone is not a 0/0 whiteout: %v mode %o rdev %d", err, st.Mode, st.Rdev)
	}
	x := img.Layers[1].Xattr + ".overlay.opaque"
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(top, "var/cache"), x, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("var/cache has no %s=y: %v", x, err)
	}
	if l, err := os.Readlink(filepath.Join(top, "lib64")); err != nil || l != "/usr/lib64" {
		t.Errorf("lib64 -> %q, %v; want /usr/lib64 kept", l, err)
	}
	if b, _ := os.ReadFile(filepath.Join(top, "etc/hostname")); string(b) != "box\n" {
		t.Errorf("etc/hostname = %q", b)
	}
	if want := map[bool]string{true: "trusted", false: "user"}[os.Geteuid() == 0]; img.Layers[1].Xattr != want {
		t.Errorf("overlay xattr prefix %q, want %q", img.Layers[1].Xattr, want)
	}
}

// TestOwnersAsRoot: as root, files get the owners the tar gives them.
func TestOwnersAsRoot(t *testing.T) {
	testenv.Require(t, testenv.Root)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 70, Gid: 71})
	tw.WriteHeader(&tar.Header{Name: "srv/db", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 70, Gid: 71, Size: 2})
	tw.Write([]byte("ok"))
	tw.Close()
	img, err := pullTars(t, newStore(t), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"srv", "srv/db"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(img.LayerDirs[0], n), &st); err != nil || st.Uid != 70 || st.Gid != 71 {
			t.Errorf("%s: owner %d:%d %v, want 70:71", n, st.Uid, st.Gid, err)
		}
	}
}

// TestSparseFileRefusedByHeader: a 1 TiB sparse file (GNU tar -S) is refused by its
// header's size, before a byte is written.
func TestSparseFileRefusedByHeader(t *testing.T) {
	testenv.Require(t, testenv.Command("tar"))
	dir := t.TempDir()
	f := filepath.Join(dir, "hole")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f, 1<<40); err != nil {
		testenv.Missing(t, "this filesystem cannot hold a 1 TiB sparse file: %v", err)
	}
	out, err := exec.Command("tar", "-S", "--format=pax", "-C", dir, "-cf", "-", "hole").Output()
	if err != nil {
		t.Fatalf("tar -S: %v", err)
	}
	s := newStore(t)
	_, err = pullTars(t, s, out)
	if err == nil || !strings.Contains(err.Error(), "past the limit") || !strings.Contains(err.Error(), `"hole"`) {
		t.Fatalf("err = %v, want the sparse file refused by size", err)
	}
	tmpEmpty(t, s)
}

// TestZstdWindowCapped: a zstd layer whose frame asks for a window past the cap is refused.
func TestZstdWindowCapped(t *testing.T) {
	raw := tarBytes(t, ent{name: "big", body: strings.Repeat("0123456789abcdef", 1<<18)})
	var zb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb, zstd.WithWindowSize(8<<20), zstd.WithSingleSegment(false))
	zw.Write(raw)
	zw.Close()
	img := zstdImage(t, zb.Bytes(), raw)
	s := newStore(t)
	s.Limits.ZstdWindow = 1 << 20
	_, err := s.Pull(context.Background(), "oci:"+writeLayout(t, img, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "window") {
		t.Fatalf("err = %v, want the zstd window refused", err)
	}
	s.Limits.ZstdWindow = DefaultLimits.ZstdWindow
	if _, err := s.Pull(context.Background(), "oci:"+writeLayout(t, img, ""), nil); err != nil {
		t.Fatalf("the same layer under the default cap: %v", err)
	}
}

func zstdImage(t *testing.T, comp, raw []byte) v1.Image {
	l := static.NewLayer(comp, types.OCILayerZStd)
	diffID, _, _ := v1.SHA256(bytes.NewReader(raw))
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.RootFS.DiffIDs = []v1.Hash{diffID}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestDiffIDMismatchRefused: a config whose diff_id does not match the layer's content
// is refused, and nothing reaches layers/.
func TestDiffIDMismatchRefused(t *testing.T) {
	raw := tarBytes(t, ent{name: "a", body: "real"})
	img := imageOf(t, raw)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.RootFS.DiffIDs[0], _, _ = v1.SHA256(strings.NewReader("something else"))
	img, _ = mutate.ConfigFile(img, cfg)
	s := newStore(t)
	_, err := s.Pull(context.Background(), "oci:"+writeLayout(t, img, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "diff_id") {
		t.Fatalf("err = %v, want a diff_id mismatch", err)
	}
	if es, _ := os.ReadDir(filepath.Join(s.Dir, "layers", "sha256")); len(es) != 0 {
		t.Errorf("layers/ holds %v after a refused layer", es)
	}
	tmpEmpty(t, s)
}

// TestLargeLayer: a layer many pipeline buffers long arrives whole, verified.
func TestLargeLayer(t *testing.T) {
	body := strings.Repeat("confine!", 3<<20) // 24 MiB
	img, err := pullTars(t, newStore(t), tarBytes(t, ent{name: "a", body: body}, ent{name: "b", body: body[:12345]}))
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]int{"a": len(body), "b": 12345} {
		if b, err := os.ReadFile(filepath.Join(img.LayerDirs[0], n)); err != nil || len(b) != want || string(b) != body[:want] {
			t.Errorf("%s: %d bytes, %v; want %d", n, len(b), err, want)
		}
	}
}
