package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// tarFile reads an archive's members in place: one scan records where each regular
// file's bytes start, then members open as io.SectionReaders (ReadAt is safe from
// several goroutines, so layers stream in parallel without extracting the archive).
type tarFile struct {
	f       *os.File
	entries map[string]tarEntry
}

type tarEntry struct {
	off, size int64
	link      string // a symlink's target (old docker save links duplicate layer.tar files)
}

const maxArchiveEntries = 1 << 16

func openTar(p string) (*tarFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	t := &tarFile{f: f, entries: map[string]tarEntry{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if len(t.entries) >= maxArchiveEntries {
			f.Close()
			return nil, fmt.Errorf("%s: more than %d members", p, maxArchiveEntries)
		}
		n, err := cleanName(h.Name)
		if err != nil || n == "" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			// archive/tar reads headers block by block with no read-ahead, so the file's
			// offset now is where this member's data starts.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				f.Close()
				return nil, err
			}
			t.entries[n] = tarEntry{off: off, size: h.Size}
		case tar.TypeSymlink:
			t.entries[n] = tarEntry{link: h.Linkname}
		}
	}
}

func (t *tarFile) Close() error { return t.f.Close() }

var errNoMember = errors.New("no such member")

// open resolves a member (following a few symlinks, inside the archive only).
func (t *tarFile) open(name string) (*io.SectionReader, error) {
	n, err := cleanName(name)
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	for hops := 0; hops < 8; hops++ {
		e, ok := t.entries[n]
		if !ok {
			return nil, fmt.Errorf("member %q: %w", name, errNoMember)
		}
		if e.link == "" {
			return io.NewSectionReader(t.f, e.off, e.size), nil
		}
		target := e.link
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(n), target)
		}
		if n, err = cleanName(strings.TrimPrefix(target, "/")); err != nil {
			return nil, fmt.Errorf("member %q: link %w", name, err)
		}
	}
	return nil, fmt.Errorf("member %q: too many links", name)
}

// read reads a whole small member, refusing one past max bytes.
func (t *tarFile) read(name string, max int64) ([]byte, error) {
	r, err := t.open(name)
	if err != nil {
		return nil, err
	}
	if r.Size() > max {
		return nil, fmt.Errorf("member %q: %d bytes is past the limit of %d", name, r.Size(), max)
	}
	return io.ReadAll(r)
}
