// Package tree opens the files of an untrusted policy beneath the directory of the file
// the user named (Tree). It is package policy's (policy.Tree), in a package of its own
// that needs nothing but the standard library: a start reads a policy's files through it
// before policy's dependencies have initialised (cmd/confine's plancache).
package tree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

var (
	// ErrOutsideTree is a policy naming a file outside the directory of the file the
	// user named: an absolute path, a ".." that climbs out, or a symlink that leaves it.
	ErrOutsideTree = errors.New("it lies outside the directory of the file that names it")
	// ErrNotRegular is a policy path naming a FIFO, device, socket or directory.
	ErrNotRegular = errors.New("not a regular file")
)

// errTopOutside is the named file itself being a symlink that leaves its directory.
var errTopOutside = errors.New("it is a symlink that leads out of its own directory; name the file it points to")

// Tree is the fs.FS to load an untrusted policy or stack from disk through. It opens
// the file the user named and every name it leads to only inside that file's directory,
// by an os.Root on it: the kernel resolves each name one component at a time beneath
// the directory, so a symlink (absolute, or climbing with "..") that leaves it is
// refused, whatever the name's text looks like. That holds for the named file too: in a
// checkout of an untrusted change, deploy/stack.yaml may itself be a link to
// /etc/shadow. Files are opened with O_NONBLOCK after a stat says they are regular, and
// checked again once open (a FIFO swapped in meanwhile).
//
// Names are the ones policy.Open and policy.LoadStack pass: the file as the user typed it,
// and its members as path.Join(path.Dir(file), member), so positions repeat them.
type Tree struct {
	root   *os.Root
	top    string // the file as named
	topRel string // the same, relative to dir
	dir    string // path.Dir(top)
}

// Open opens the directory of file for loading file and what it names. Close it.
func Open(file string) (*Tree, error) {
	dir := path.Dir(file)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	t := &Tree{root: root, top: file, dir: dir}
	var ok bool
	if t.topRel, ok = t.inside(file); !ok {
		t.topRel = "." // "dir/": the directory itself, which openRegular refuses
	}
	return t, nil
}

// Abs is name as an absolute path, for the sources a policy names relative to itself
// (filesystem.bind, run.env_file), which the Plan records absolute (policyDir). Names are
// relative to the working directory, as the user typed the file.
func (t *Tree) Abs(name string) (string, error) { return filepath.Abs(name) }

// Close releases the directory.
func (t *Tree) Close() error { return t.root.Close() }

// Open opens name, the named file or a file beneath its directory: a regular file.
func (t *Tree) Open(name string) (fs.File, error) {
	rel, ok := t.topRel, true
	if name != t.top {
		rel, ok = t.inside(name)
	}
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrOutsideTree}
	}
	f, err := openRegular(rel, t.root.Stat, func(flag int) (*os.File, error) { return t.root.OpenFile(rel, flag, 0) })
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" { // os.Root's errPathEscapes
		pe = &fs.PathError{Op: "open", Path: name, Err: ErrOutsideTree}
		if name == t.top {
			pe.Err = errTopOutside
		}
		err = pe
	}
	return f, err
}

// inside returns name relative to the tree's directory, when it lies there.
func (t *Tree) inside(name string) (string, bool) {
	rel := path.Clean(name)
	switch {
	case t.dir == ".":
	case t.dir == "/":
		rel = strings.TrimPrefix(rel, "/")
	case strings.HasPrefix(rel, t.dir+"/"):
		rel = rel[len(t.dir)+1:]
	default:
		return "", false
	}
	return rel, fs.ValidPath(rel) && rel != "."
}

func openRegular(name string, stat func(string) (os.FileInfo, error), open func(int) (*os.File, error)) (*os.File, error) {
	fi, err := stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: NotRegular(fi.Mode())}
	}
	f, err := open(os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = &fs.PathError{Op: "open", Path: name, Err: NotRegular(fi.Mode())}
		}
		return nil, err
	}
	return f, nil
}

// NotRegular is the error for a policy path that is not a regular file.
func NotRegular(m fs.FileMode) error {
	kind := "of mode " + m.Type().String()
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a FIFO"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return fmt.Errorf("it is %s, %w", kind, ErrNotRegular)
}
