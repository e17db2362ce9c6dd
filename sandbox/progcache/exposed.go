package progcache

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dirs are the directories a start must keep out of a component's reach: the default
// store, and the one EnvDir names. Both, whichever this start uses: an entry planted in
// either is taken by a later start that uses it.
func Dirs() []string {
	dirs := []string{DefaultDir}
	if d := os.Getenv(EnvDir); filepath.IsAbs(d) && filepath.Clean(d) != DefaultDir {
		dirs = append(dirs, filepath.Clean(d))
	}
	return dirs
}

// Exposes is the store directory that a writable bind of source would let a component
// write, or "": source is that directory, one of its ancestors or something inside it,
// told by device and inode, so that a symlink or another bind of the same directory is
// the same one. A store directory not made yet counts from its deepest existing
// ancestor: a component that could make it, as root through an idmapped bind, could fill
// it. A component running as host root's id there could plant a program that later
// starts load as another policy's seccomp filter.
func Exposes(source string) string {
	var src unix.Stat_t
	if unix.Stat(source, &src) != nil {
		return "" // nothing to bind: the start fails on it anyway
	}
	for _, dir := range Dirs() {
		for _, a := range ancestors(dir) {
			if sameFile(a, &src) {
				return dir
			}
		}
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil {
			continue
		}
		for _, a := range ancestors(source)[1:] {
			if sameFile(a, &st) {
				return dir // an entry, or a directory inside the store
			}
		}
	}
	return ""
}

// sameFile: path is the file st describes.
func sameFile(path string, st *unix.Stat_t) bool {
	var a unix.Stat_t
	return unix.Stat(path, &a) == nil && a.Dev == st.Dev && a.Ino == st.Ino
}

// ancestors is dir's existing part with its symlinks resolved, and each of its parents
// up to /.
func ancestors(dir string) []string {
	d := dir
	for {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			d = real
			break
		}
		if d == "/" {
			break
		}
		d = filepath.Dir(d)
	}
	out := []string{d}
	for d != "/" {
		d = filepath.Dir(d)
		out = append(out, d)
	}
	return out
}
