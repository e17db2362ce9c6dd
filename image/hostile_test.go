package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// pullTars pulls an image made of these layer tars through an OCI layout, the same path
// a registry pull takes after the download.
func pullTars(t *testing.T, s *Store, tars ...[]byte) (*Image, error) {
	t.Helper()
	img := imageOf(t, tars...)
	dir := writeLayout(t, img, "")
	rec, err := s.Pull(context.Background(), "oci:"+dir, nil)
	if err != nil {
		return nil, err
	}
	return s.Image(mustHash(t, rec.Digest))
}

// hostileCase is one class of malicious layer: entries aimed at outside (a directory
// made by the test, standing in for the host), and what must come of them.
type hostileCase struct {
	name   string
	layers func(outside string) [][]byte
	refuse string                                  // a refusal naming this, or "" when neutralised
	check  func(t *testing.T, top, outside string) // on the top layer's tree, when not refused
}

func hostileCases(t *testing.T) []hostileCase {
	one := func(es ...ent) func(string) [][]byte {
		return func(string) [][]byte { return [][]byte{tarBytes(t, es...)} }
	}
	absent := func(rel string) func(*testing.T, string, string) {
		return func(t *testing.T, top, _ string) {
			if _, err := os.Lstat(filepath.Join(top, rel)); err == nil {
				t.Errorf("%s reached the store", rel)
			}
		}
	}
	return []hostileCase{
		{name: "dotdot", refuse: `"..`, layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "a/../../../../../../../../" + o + "/pwned", body: "x"})}
		}},
		{name: "absolute", refuse: "absolute name", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: o + "/pwned", body: "x"})}
		}},
		{name: "symlink-absolute-then-write", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: o[1:], typ: tar.TypeDir, mode: 0o755},
				ent{name: "esc", typ: tar.TypeSymlink, link: o}, ent{name: "esc/pwned", body: "x"})}
		}, check: func(t *testing.T, top, o string) {
			// Resolved inside the layer, as it will be at run time.
			if _, err := os.Stat(filepath.Join(top, o, "pwned")); err != nil {
				t.Errorf("esc/pwned was not written inside the layer: %v", err)
			}
		}},
		{name: "symlink-relative-then-write", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: o[1:], typ: tar.TypeDir, mode: 0o755},
				ent{name: "a/b/esc", typ: tar.TypeSymlink, link: "../../../../../../../../../../.." + o},
				ent{name: "a/b/esc/pwned", body: "x"})}
		}, check: func(t *testing.T, top, o string) {
			if _, err := os.Stat(filepath.Join(top, o, "pwned")); err != nil {
				t.Errorf("a/b/esc/pwned was not written inside the layer: %v", err)
			}
		}},
		{name: "header-claims-1TiB", refuse: "past the limit", layers: func(string) [][]byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40})
			tw.Write(make([]byte, 4096)) // the rest never comes: the header alone is refused
			tw.Flush()
			return [][]byte{buf.Bytes()}
		}},
		{name: "symlink-dot-CVE-2021-29136", refuse: "root must be a directory", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: ".", typ: tar.TypeSymlink, link: o})}
		}},
		{name: "hardlink-outside", refuse: "hardlink target", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "h", typ: tar.TypeLink, link: "../../../../../../../.." + o + "/secret"})}
		}},
		{name: "hardlink-absolute", refuse: "hardlink target", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "h", typ: tar.TypeLink, link: o + "/secret"})}
		}},
		{name: "hardlink-through-symlink", refuse: "not in this layer", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "esc", typ: tar.TypeSymlink, link: o},
				ent{name: "h", typ: tar.TypeLink, link: "esc/secret"})}
		}},
		{name: "hardlink-across-layers", refuse: "not in this layer", layers: func(string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "f", body: "lower"}),
				tarBytes(t, ent{name: "g", typ: tar.TypeLink, link: "f"})}
		}},
		{name: "hardlink-then-overwrite", layers: one(ent{name: "a", body: "first"},
			ent{name: "b", typ: tar.TypeLink, link: "a"}, ent{name: "b", body: "second"}),
			check: func(t *testing.T, top, _ string) {
				if b, _ := os.ReadFile(filepath.Join(top, "a")); string(b) != "first" {
					t.Errorf("a = %q: rewriting b wrote through the hard link", b)
				}
			}},
		{name: "char-device", layers: one(ent{name: "dev/mem", typ: tar.TypeChar, major: 1, minor: 1}),
			check: absent("dev/mem")},
		{name: "block-device", layers: one(ent{name: "sda", typ: tar.TypeBlock, major: 8}), check: absent("sda")},
		{name: "whiteout-device-from-tar", layers: one(ent{name: "wh", typ: tar.TypeChar}), check: absent("wh")},
		{name: "fifo", layers: one(ent{name: "p", typ: tar.TypeFifo}), check: absent("p")},
		{name: "setuid-setgid", layers: one(ent{name: "bin/su", body: "x", mode: 0o6755},
			ent{name: "d", typ: tar.TypeDir, mode: 0o2775}),
			check: func(t *testing.T, top, _ string) {
				for _, n := range []string{"bin/su", "d"} {
					st, err := os.Lstat(filepath.Join(top, n))
					if err != nil || st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
						t.Errorf("%s: %v %v: setid bits reached the store", n, st.Mode(), err)
					}
				}
			}},
		{name: "capability-and-overlay-xattrs", layers: one(ent{name: "ping", body: "x", pax: map[string]string{
			"SCHILY.xattr.security.capability":    "\x01\x00\x00\x02\x00\x20\x00\x00",
			"SCHILY.xattr.trusted.overlay.opaque": "y",
			"SCHILY.xattr.user.overlay.redirect":  "/etc",
		}}), check: func(t *testing.T, top, _ string) {
			for _, x := range []string{"security.capability", "trusted.overlay.opaque", "user.overlay.redirect"} {
				if _, err := unix.Lgetxattr(filepath.Join(top, "ping"), x, make([]byte, 64)); err == nil {
					t.Errorf("xattr %s reached the store", x)
				}
			}
		}},
		{name: "whiteout-dotdot", refuse: "leaves", layers: one(ent{name: "a/.wh..."})},
		{name: "whiteout-dot", refuse: "leaves", layers: one(ent{name: ".wh.."})},
		{name: "whiteout-up", refuse: `".."`, layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "../../../../../../.." + o + "/.wh.secret"})}
		}},
		{name: "symlink-dangling-then-write", refuse: "parent", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "esc", typ: tar.TypeSymlink, link: o},
				ent{name: "esc/pwned", body: "x"})}
		}},
		{name: "whiteout-through-symlink", refuse: "parent", layers: func(o string) [][]byte {
			return [][]byte{tarBytes(t, ent{name: "esc", typ: tar.TypeSymlink, link: o},
				ent{name: "esc/.wh.secret"}, ent{name: "esc/.wh..wh..opq"})}
		}},
		{name: "entry-too-large", refuse: "past the limit", layers: one(ent{name: "big", body: strings.Repeat("z", 2<<20)})},
		{name: "layer-too-large", refuse: "more than", layers: one(ent{name: "a", body: strings.Repeat("z", 900<<10)},
			ent{name: "b", body: strings.Repeat("z", 900<<10)}, ent{name: "c", body: strings.Repeat("z", 900<<10)})},
		{name: "too-many-entries", refuse: "more than 64 entries", layers: func(string) [][]byte {
			var es []ent
			for i := 0; i < 65; i++ {
				es = append(es, ent{name: "f" + strings.Repeat("x", i)})
			}
			return [][]byte{tarBytes(t, es...)}
		}},
	}
}

// TestHostileLayers: each class of malicious layer is refused (an error naming the
// entry and the layer) or neutralised, and the directory the entries aim at is unchanged.
func TestHostileLayers(t *testing.T) {
	for _, c := range hostileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			outside := t.TempDir()
			os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o644)
			before := snapshot(t, outside)
			s := newStore(t)
			s.Limits.EntrySize, s.Limits.LayerSize, s.Limits.Entries = 1<<20, 2<<20, 64
			img, err := pullTars(t, s, c.layers(outside)...)
			if c.refuse != "" {
				var le *LayerError
				if err == nil || !strings.Contains(err.Error(), c.refuse) || !errors.As(err, &le) || len(le.Layer) != 12 {
					t.Fatalf("err = %v, want a LayerError naming %q", err, c.refuse)
				}
				if le.Entry == "" && !strings.Contains(c.refuse, "more than") {
					t.Errorf("the refusal names no entry: %v", err)
				}
				if es, _ := os.ReadDir(filepath.Join(s.Dir, "layers", "sha256")); len(es) > 1 {
					t.Errorf("a refused layer reached layers/: %v", es)
				}
			} else if err != nil {
				t.Fatalf("pull: %v", err)
			} else if c.check != nil {
				c.check(t, img.LayerDirs[len(img.LayerDirs)-1], outside)
			}
			if after := snapshot(t, outside); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("outside changed:\nbefore %v\nafter  %v", before, after)
			}
			if st, _ := os.Stat(filepath.Join(outside, "secret")); st != nil {
				if sys := st.Sys().(*syscall.Stat_t); sys.Nlink != 1 {
					t.Errorf("the outside file gained a hard link")
				}
			}
			tmpEmpty(t, s)
		})
	}
}
