package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUnpack feeds arbitrary tar streams to the unpacker: it must never panic, and
// never write outside its directory (a sibling directory stands in for the host).
func FuzzUnpack(f *testing.F) {
	f.Add(tarBytes(f, ent{name: "a/b", body: "x"}, ent{name: "l", typ: tar.TypeSymlink, link: "/a"},
		ent{name: "l/c", body: "y"}, ent{name: "h", typ: tar.TypeLink, link: "a/b"}))
	f.Add(tarBytes(f, ent{name: "a/.wh.b"}, ent{name: "a/.wh..wh..opq"}, ent{name: "a/b/", typ: tar.TypeDir}))
	f.Add(tarBytes(f, ent{name: "x", typ: tar.TypeSymlink, link: "../host"}, ent{name: "x/pwned", body: "z"}))
	lim := Limits{EntrySize: 1 << 20, LayerSize: 4 << 20, Entries: 256, Layers: 1, Blob: 1 << 20, ZstdWindow: 1 << 20}
	f.Fuzz(func(t *testing.T, b []byte) {
		base := t.TempDir()
		host := filepath.Join(base, "host")
		root := filepath.Join(base, "root")
		os.Mkdir(host, 0o755)
		os.Mkdir(root, 0o700)
		_, err := unpack(bytes.NewReader(b), root, "fuzz", lim)
		var le *LayerError
		if err != nil && !errors.As(err, &le) {
			t.Fatalf("an error that is not a LayerError: %v", err)
		}
		if es, _ := os.ReadDir(host); len(es) != 0 {
			t.Fatalf("the unpack wrote outside its directory: %v", es)
		}
		if es, _ := os.ReadDir(base); len(es) != 2 {
			t.Fatalf("the unpack wrote beside its directory: %v", es)
		}
		removeTree(root)
	})
}
