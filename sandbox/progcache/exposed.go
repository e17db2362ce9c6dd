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

// ExposesFD is Exposes of the file fd is open on (O_PATH will do), told from the
// descriptor alone: a path the caller resolved once, so that a symlink swapped after
// the check cannot point the bind elsewhere. A directory is walked up by "..": itself
// or one of its ancestors may not be a store's directory. A file may not be a store's
// entry.
func ExposesFD(fd int) string {
	var src unix.Stat_t
	if unix.Fstat(fd, &src) != nil {
		return ""
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
		if src.Mode&unix.S_IFMT != unix.S_IFDIR {
			if holds(dir, &src) {
				return dir
			}
			continue
		}
		if below(fd, &st) {
			return dir
		}
	}
	return ""
}

// below: the directory fd is open on lies below the directory st describes.
func below(fd int, st *unix.Stat_t) bool {
	cur, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for i := 0; err == nil && i < 4096; i++ {
		var a unix.Stat_t
		if unix.Fstat(cur, &a) != nil {
			break
		}
		if a.Dev == st.Dev && a.Ino == st.Ino {
			unix.Close(cur)
			return true
		}
		next, nerr := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		var n unix.Stat_t
		if nerr == nil && unix.Fstat(next, &n) == nil && n.Dev == a.Dev && n.Ino == a.Ino {
			unix.Close(next) // "/" is its own parent
			break
		}
		unix.Close(cur)
		cur, err = next, nerr
	}
	if err == nil {
		unix.Close(cur)
	}
	return false
}

// holds: the file st describes is one of dir's entries.
func holds(dir string, st *unix.Stat_t) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if sameFile(filepath.Join(dir, e.Name()), st) {
			return true
		}
	}
	return false
}
