package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Record is one image name in the store (a name moved by pull, or none for an image
// loaded without one). `confine images --json` prints these.
type Record struct {
	Name         string    `json:"name"`
	Digest       string    `json:"digest"` // the manifest's
	ConfigDigest string    `json:"config_digest"`
	Size         int64     `json:"size"` // bytes of the unpacked files of all layers
	Created      time.Time `json:"created"`
	Layers       []string  `json:"layers"` // diff_ids, bottom first
	Pulled       time.Time `json:"pulled"`
}

type indexFile struct {
	Version int      `json:"version"`
	Images  []Record `json:"images"`
}

func (s *Store) indexPath() string { return filepath.Join(s.Dir, "images.json") }

// List returns the image records, sorted by name and digest. Readers take no lock: the
// index is replaced by rename, never written in place.
func (s *Store) List() ([]Record, error) {
	b, err := ReadIndex(s.Dir)
	if err != nil {
		return nil, err
	}
	return s.parseIndex(b)
}

// ReadIndex is the bytes of the index of the store at dir as they are (nil for none),
// for LookupIn: a reader that keeps what it found in them (a kept Plan) knows the index
// unchanged by its bytes.
func ReadIndex(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "images.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// LookupIn is Lookup in the index bytes b of the store at dir (ReadIndex's).
func LookupIn(dir string, b []byte, ref string) ([]Record, error) {
	s := &Store{Dir: dir}
	recs, err := s.parseIndex(b)
	if err != nil {
		return nil, err
	}
	return lookupIn(recs, ref)
}

func (s *Store) parseIndex(b []byte) ([]Record, error) {
	if b == nil {
		return nil, nil
	}
	var f indexFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("image store %s: %w", s.indexPath(), err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("image store %s: index version %d, this confine reads 1", s.indexPath(), f.Version)
	}
	return f.Images, nil
}

// update changes the index under the store's lock; the lock is held only for the
// read-modify-rename, never across a download.
func (s *Store) update(fn func([]Record) ([]Record, error)) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	recs, err := s.List()
	if err != nil {
		return err
	}
	if recs, err = fn(recs); err != nil {
		return err
	}
	slices.SortFunc(recs, func(a, b Record) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	b, err := json.MarshalIndent(indexFile{Version: 1, Images: recs}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.indexPath(), append(b, '\n'), filepath.Join(s.Dir, "tmp"))
}

// setRecords adds images: a name moves to its new digest; a nameless image is added
// unless its digest is already recorded.
func setRecords(recs []Record, add []Record) []Record {
	for _, a := range add {
		if a.Name == "" {
			if !slices.ContainsFunc(recs, func(r Record) bool { return r.Digest == a.Digest }) {
				recs = append(recs, a)
			}
			continue
		}
		recs = slices.DeleteFunc(recs, func(r Record) bool { return r.Name == a.Name })
		recs = append(recs, a)
	}
	return recs
}

// Lookup finds the records REF names: a name (alpine, oci:PATH:TAG), a digest reference
// (NAME@sha256:…, which matches by digest alone: the content is the same), or a bare
// sha256:HEX, whose prefix of at least 12 digits is enough when it is unique.
func (s *Store) Lookup(ref string) ([]Record, error) {
	recs, err := s.List()
	if err != nil {
		return nil, err
	}
	return lookupIn(recs, ref)
}

func lookupIn(recs []Record, ref string) ([]Record, error) {
	match, err := matcher(ref)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, r := range recs {
		if match(r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("image %s is not in the store (confine pull %s)", ref, ref)
	}
	if d := out[0].Digest; slices.ContainsFunc(out, func(r Record) bool { return r.Digest != d }) {
		return nil, fmt.Errorf("image %s is ambiguous: it matches several digests", ref)
	}
	return out, nil
}

func matcher(ref string) (func(Record) bool, error) {
	if hex, ok := strings.CutPrefix(ref, "sha256:"); ok {
		if len(hex) < 12 {
			return nil, fmt.Errorf("image %s: give at least 12 hex digits of the digest", ref)
		}
		return func(r Record) bool { return strings.HasPrefix(r.Digest, ref) }, nil
	}
	p, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if d, ok := digestOf(p); ok {
		// The digest of the manifest, or of the index it was picked from (the name says so).
		n := p.String()
		return func(r Record) bool { return r.Digest == d || r.Name == n }, nil
	}
	n := p.String()
	return func(r Record) bool { return r.Name == n }, nil
}
