package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// meter hashes and counts what passes through it and fails past max bytes.
type meter struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	max  int64
	what string
	tick func(int) // progress; may be nil
}

var errTooLarge = errors.New("too large")

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.h.Write(p[:n])
	m.n += int64(n)
	if m.tick != nil && n > 0 {
		m.tick(n)
	}
	if m.n > m.max {
		return n, fmt.Errorf("%s is larger than %d bytes: %w", m.what, m.max, errTooLarge)
	}
	return n, err
}

func (m *meter) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", m.h.Sum(nil))}
}

// layerStream is one layer's blob on its way to the unpacker: the compressed digest is
// computed over the whole blob and the diff_id over the whole uncompressed stream.
type layerStream struct {
	comp   *meter
	buf    *bufio.Reader
	dec    io.Reader
	close  func()
	uncomp *meter
	digest v1.Hash // expected compressed digest
	diffID v1.Hash
	size   int64 // expected compressed size, or -1
}

var (
	magicGzip = []byte{0x1f, 0x8b}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// openLayer wraps a blob in verification and decompression (gzip, zstd or none, told by
// its magic bytes: media types lie more often than magic does).
func openLayer(r io.Reader, digest, diffID v1.Hash, size int64, lim Limits, tick func(int)) (*layerStream, error) {
	max := lim.LayerSize
	if size >= 0 && size < max {
		max = size
	}
	s := &layerStream{digest: digest, diffID: diffID, size: size, close: func() {}}
	s.comp = &meter{r: r, h: sha256.New(), max: max, what: "the compressed layer", tick: tick}
	s.buf = bufio.NewReaderSize(s.comp, 1<<20)
	magic, _ := s.buf.Peek(4)
	switch {
	case bytes.HasPrefix(magic, magicGzip):
		z, err := gzip.NewReader(s.buf)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		s.dec, s.close = z, func() { z.Close() }
	case bytes.HasPrefix(magic, magicZstd):
		// The window cap bounds the decoder's memory (a zstd frame may ask for 3.75 TB).
		z, err := zstd.NewReader(s.buf, zstd.WithDecoderMaxWindow(lim.ZstdWindow),
			zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(lim.LayerSize)))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		s.dec, s.close = z, z.Close
	default:
		s.dec = s.buf
	}
	s.uncomp = &meter{r: s.dec, h: sha256.New(), max: lim.LayerSize, what: "the uncompressed layer"}
	return s, nil
}

// finish checks both digests once the pipeline has read both streams to EOF (the tar
// reader stops at the end marker, and a digest of a stream read part-way proves nothing).
func (s *layerStream) finish(p *pipeline) error {
	defer s.close()
	if err := p.wait(); err != nil {
		return err
	}
	if got := s.uncomp.sum(); got != s.diffID {
		return fmt.Errorf("uncompressed content is %s, the image config says diff_id %s", got, s.diffID)
	}
	if got := s.comp.sum(); got != s.digest {
		return fmt.Errorf("blob is %s, the manifest says %s", got, s.digest)
	}
	if s.size >= 0 && s.comp.n != s.size {
		return fmt.Errorf("blob is %d bytes, the manifest says %d", s.comp.n, s.size)
	}
	return nil
}
