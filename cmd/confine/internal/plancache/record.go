package plancache

import (
	"crypto/sha256"
	"hash"
	"io"
	"io/fs"

	"github.com/confine-sandbox/confine/policy/tree"
)

// Recorder is the tree the loader reads a policy through, noting every file it opens
// with the bytes it reads of it, and every absolute path it asks the tree for (policy's
// absResolver: a relative bind source becomes absolute in the Plan). They are all the
// loader and compile consult besides this binary; a kept Plan is taken only when each
// of them is as noted.
type Recorder struct {
	t      *tree.Tree
	files  []*recFile
	abs    []absName
	images []imageDep // the images compile resolved (Image)
	failed bool       // an open or Abs failed: the Plan, if any, also depends on why
}

// absName is what Abs gave for name.
type absName struct{ name, abs string }

// NewRecorder is a Recorder reading through t.
func NewRecorder(t *tree.Tree) *Recorder { return &Recorder{t: t} }

// dep is a file the loader read whole, and the SHA-256 of what it read.
type dep struct {
	name string
	sum  [sha256.Size]byte
}

func (r *Recorder) Open(name string) (fs.File, error) {
	f, err := r.t.Open(name)
	if err != nil {
		r.failed = true
		return nil, err
	}
	rf := &recFile{File: f, name: name, h: sha256.New()}
	r.files = append(r.files, rf)
	return rf, nil
}

func (r *Recorder) Abs(name string) (string, error) {
	abs, err := r.t.Abs(name)
	if err != nil {
		r.failed = true
	}
	r.abs = append(r.abs, absName{name, abs})
	return abs, err
}

// deps are the files read, in order, or ok false when the Plan may depend on more than
// them: a failed open or Abs, or a file not read to its end.
func (r *Recorder) deps() (deps []dep, ok bool) {
	if r.failed || len(r.files) == 0 {
		return nil, false
	}
	for _, f := range r.files {
		if !f.eof {
			return nil, false
		}
		d := dep{name: f.name}
		f.h.Sum(d.sum[:0])
		deps = append(deps, d)
	}
	return deps, true
}

// recFile hashes what is read of it. It offers only fs.File's methods, so every byte
// the loader gets passes through Read.
type recFile struct {
	fs.File
	name string
	h    hash.Hash
	eof  bool
}

func (f *recFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.h.Write(p[:n])
	if err == io.EOF {
		f.eof = true
	}
	return n, err
}
