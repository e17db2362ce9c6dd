package image

import (
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// A run holds its image by a shared flock on holds/HEX (the manifest's digest), from
// before it reads the image until it ends: prune keeps every image whose hold it cannot
// lock exclusively. The lock goes with the run's process, so a killed run leaves nothing
// to sweep, and a run writes nothing to hold its image: a reference file (refs/, still
// read) was two writes and a rename on the start's path and an unlink on its exit's.

// hold takes the shared lock on the hold of the image with manifest digest d, under the
// index lock: a prune (which sweeps under it) has either seen the hold or is done, and the
// run then reads what it left.
func (s *Store) hold(d v1.Hash) (*os.File, error) {
	dir := filepath.Join(s.Dir, "holds")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := os.OpenFile(filepath.Join(dir, d.Hex), os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// holds are the digests of the images some run holds now (prune calls it under the index
// lock, which a run takes its hold under), and a release for the other holds, which it
// locks exclusively until then; release removes the holds of the images kept is false for.
func (s *Store) holds() (held []v1.Hash, release func(kept func(v1.Hash) bool)) {
	dir := filepath.Join(s.Dir, "holds")
	es, _ := os.ReadDir(dir)
	type free struct {
		f *os.File
		d v1.Hash
	}
	var locked []free
	for _, e := range es {
		d, err := v1.NewHash("sha256:" + e.Name())
		p := filepath.Join(dir, e.Name())
		if err != nil || !e.Type().IsRegular() {
			os.Remove(p) // not a hold of confine's
			continue
		}
		f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close()
			held = append(held, d)
			continue
		}
		locked = append(locked, free{f, d})
	}
	return held, func(kept func(v1.Hash) bool) {
		for _, l := range locked {
			if !kept(l.d) {
				os.Remove(filepath.Join(dir, l.d.Hex)) // before the unlock: no run holds it meanwhile
			}
			l.f.Close()
		}
	}
}
