package image

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lock takes the store's index lock (flock on index.lock); callers hold it for
// milliseconds: a read-modify-rename of the index, or prune's renames into tmp/.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "index.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// workDir makes a pull's directory under tmp/ and holds a flock on it for the pull's
// life: prune removes only the work dirs whose lock it can take (their pull is gone).
func (s *Store) workDir() (string, func(), error) {
	// Made and flocked under the index lock, so prune never sees it unlocked.
	unlock, err := s.lock()
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	d, err := os.MkdirTemp(filepath.Join(s.Dir, "tmp"), "pull-")
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(d)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(d)
		return "", nil, err
	}
	return d, func() { removeTree(d); f.Close() }, nil
}

// inUse reports whether a work dir's pull still runs (its flock is held).
func inUse(d string) bool {
	f, err := os.Open(d)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return true
	}
	return false
}
