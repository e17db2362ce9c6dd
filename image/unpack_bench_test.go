package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// benchLayer is a layer shaped like a distribution's: 3,000 text-like files from 256 B
// to 64 KiB in 150 directories, and four 4 MiB files: 117 MB, gzip'd about 3:1.
var benchLayer = sync.OnceValues(func() (raw, gz []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"lib", "usr", "share", "config", "value", "error", "struct", "return", "static", "void"}
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(" \n"[r.IntN(2)])
			fmt.Fprintf(&b, "%d", r.IntN(1000))
		}
		return b.Bytes()[:n]
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for d := 0; d < 150; d++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/lib/d%03d/", d), Typeflag: tar.TypeDir, Mode: 0o755})
		for f := 0; f < 20; f++ {
			body := text(256 + r.IntN(64<<10))
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("usr/lib/d%03d/f%02d", d, f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			tw.Write(body)
		}
	}
	for i := 0; i < 4; i++ {
		body := text(4 << 20)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("opt/big%d", i), Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(buf.Bytes())
	zw.Close()
	return buf.Bytes(), z.Bytes()
})

func hashOf(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}

// BenchmarkUnpack is confine's whole path for one gzip'd layer: both digests over the
// whole streams, the hostile-entry checks, openat2 resolution, owners, modes and times.
func BenchmarkUnpack(b *testing.B) {
	raw, gz := benchLayer()
	digest, diffID := hashOf(gz), hashOf(raw)
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "root")
		os.Mkdir(dir, 0o700)
		b.StartTimer()
		ls, err := openLayer(bytes.NewReader(gz), digest, diffID, int64(len(gz)), DefaultLimits, nil)
		if err != nil {
			b.Fatal(err)
		}
		p := startPipeline(ls)
		if _, err := unpack(p, dir, "bench", DefaultLimits); err != nil {
			b.Fatal(err)
		}
		if err := ls.finish(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTarX is the baseline: GNU tar -xzf of the same layer (gzip in a second
// process, no digests, no checks).
func BenchmarkTarX(b *testing.B) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("no tar")
	}
	raw, gz := benchLayer()
	f := filepath.Join(b.TempDir(), "layer.tar.gz")
	os.WriteFile(f, gz, 0o600)
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		if out, err := exec.Command("tar", "-xzf", f, "-C", dir).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v %s", err, out)
		}
	}
}
