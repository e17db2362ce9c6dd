package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A volume is volumes/NAME/{_data,volume.json,lock} in the store: it outlives runs and
// `down`. Each run that mounts it holds a shared flock on its lock file for the run's
// life; `volume rm` takes the lock exclusively, without waiting, so it refuses while any
// run uses the volume, and a run killed with SIGKILL holds nothing (the kernel drops the
// lock with the process). Names are host-wide per store, as Docker's are.

var volumeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })

// VolumeInfo is what `volume ls` and `volume inspect` print.
type VolumeInfo struct {
	Name    string    `json:"name"`
	Dir     string    `json:"dir"` // its _data directory
	Created time.Time `json:"created"`
	// Owner is who the volume was made for: the uid and gid of its first component.
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	InUse bool   `json:"in_use"`
}

func (s *Store) volumeDir(name string) (string, error) {
	if !volumeName().MatchString(name) {
		return "", fmt.Errorf("volume %q: expected a name of letters, digits, '_', '.' and '-'", name)
	}
	return filepath.Join(s.Dir, "volumes", name), nil
}

// UseVolume makes volume name if it does not exist, its _data owned by uid:gid (the
// ids the component runs as; the mount is idmapped, so they are the ids on disk), and
// holds it for a run until release is called. It returns the _data directory.
func (s *Store) UseVolume(name string, uid, gid uint32) (dir string, release func(), err error) {
	d, err := s.volumeDir(name)
	if err != nil {
		return "", nil, err
	}
	for try := 0; try < 3; try++ {
		if err := s.makeVolume(d, name, uid, gid); err != nil {
			return "", nil, err
		}
		f, err := os.Open(filepath.Join(d, "lock"))
		if err != nil {
			continue // removed meanwhile: make it again
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
			f.Close()
			return "", nil, err
		}
		if _, err := os.Stat(filepath.Join(d, "_data")); err != nil {
			f.Close() // an rm won the lock first; its volume is gone
			continue
		}
		return filepath.Join(d, "_data"), func() { f.Close() }, nil
	}
	return "", nil, fmt.Errorf("volume %s: removed while it was being mounted; try again", name)
}

// makeVolume creates the volume's directory once: _data is made in a temporary
// directory and renamed into place, so a volume that exists is complete.
func (s *Store) makeVolume(d, name string, uid, gid uint32) error {
	if _, err := os.Stat(filepath.Join(d, "_data")); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "volumes"), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.Dir, "tmp"), "volume-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	info := VolumeInfo{Name: name, Created: time.Now().UTC(), UID: uid, GID: gid}
	b, _ := json.Marshal(info)
	err = os.Mkdir(filepath.Join(tmp, "_data"), 0o755)
	if err == nil {
		err = os.Chown(filepath.Join(tmp, "_data"), int(uid), int(gid))
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, "volume.json"), b, 0o600)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, "lock"), nil, 0o600)
	}
	if err == nil {
		err = os.Chmod(tmp, 0o700)
	}
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	if err := os.Rename(tmp, d); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	return nil
}

// Volumes lists the store's volumes by name.
func (s *Store) Volumes() ([]VolumeInfo, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "volumes"))
	if errors.Is(err, os.ErrNotExist) {
		return []VolumeInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []VolumeInfo{}
	for _, e := range ents {
		if v, err := s.Volume(e.Name()); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Volume describes one volume.
func (s *Store) Volume(name string) (VolumeInfo, error) {
	d, err := s.volumeDir(name)
	if err != nil {
		return VolumeInfo{}, err
	}
	b, err := os.ReadFile(filepath.Join(d, "volume.json"))
	if errors.Is(err, os.ErrNotExist) {
		return VolumeInfo{}, fmt.Errorf("volume %s does not exist", name)
	}
	var v VolumeInfo
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		return VolumeInfo{}, fmt.Errorf("volume %s: %w", name, err)
	}
	v.Name, v.Dir = name, filepath.Join(d, "_data")
	if f, err := os.Open(filepath.Join(d, "lock")); err == nil {
		v.InUse = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
		f.Close()
	}
	return v, nil
}

// RemoveVolume deletes a volume and its data; it refuses while a run uses it.
func (s *Store) RemoveVolume(name string) error {
	d, err := s.volumeDir(name)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(d, "lock"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("volume %s does not exist", name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("volume %s is in use by a running component; stop it first", name)
	}
	trash, err := os.MkdirTemp(filepath.Join(s.Dir, "tmp"), "rm-volume-")
	if err != nil {
		return err
	}
	// Renamed away under the lock, so a run that waits for it finds no _data and
	// makes the volume anew; deleted after.
	if err := os.Rename(d, filepath.Join(trash, "v")); err != nil {
		os.Remove(trash)
		return err
	}
	return removeTree(trash)
}
