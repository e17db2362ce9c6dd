package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// A run mounts /proc and /dev (and any tmpfs the policy names) onto directories of the
// image's root; an image built FROM scratch has none of them, and the init stage made
// each in the run's upper, on the store's filesystem, on the start's path, and the run's
// Close removed it again. mountPoints gives such a run a layer of them instead:
// mounts/KEY/NAME, empty directories owned by root (as the init stage's own would be,
// seen through the idmap), made once per set of names and kept, on the store's
// filesystem (one filesystem under the overlay: the component sees one st_dev), as the
// topmost lower layer. It holds only names that no layer of the image has, not even as
// a whiteout, so it shows nothing of the image differently: what it adds is what the init
// stage would have made. The Plan's pins are the image's layers; this one is confine's.

// mountPoints returns the directory of the mount points names that no layer in lowers
// has, made if need be, or "" when the image has every one (the empty layer when
// always is set).
func (s *Store) mountPoints(lowers []string, names []string, always bool) (string, error) {
	var absent []string
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") || slices.Contains(absent, n) {
			continue
		}
		if !inAnyLayer(lowers, n) {
			absent = append(absent, n)
		}
	}
	if len(absent) == 0 && !always {
		return "", nil
	}
	slices.Sort(absent)
	sum := sha256.Sum256([]byte(strings.Join(absent, "/")))
	dir := filepath.Join(s.Dir, "mounts", hex.EncodeToString(sum[:8]))
	if hasDirs(dir, absent) {
		return dir, nil
	}
	return dir, s.makeMountPoints(dir, absent)
}

// inAnyLayer reports whether any layer has an entry named n at its root (anything it
// cannot tell counts as having one: the init stage then makes it, as before).
func inAnyLayer(lowers []string, n string) bool {
	for _, l := range lowers {
		if _, err := os.Lstat(filepath.Join(l, n)); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// dirsOrAbsent reports whether each of names is, at the image's root, a directory (in
// the topmost layer that has the name) or in no layer at all (mountPoints then gives
// it): a mount onto it then makes nothing in the run's root. A whiteout, a file, a link
// or an error says no, and the run gets an upper as before.
func dirsOrAbsent(lowers []string, names []string) bool {
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
			return false
		}
		for _, l := range lowers {
			fi, err := os.Lstat(filepath.Join(l, n))
			if errors.Is(err, fs.ErrNotExist) && opaqueRoot(l) {
				return false // what it hides of the layers below is not looked into
			}
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil || !fi.IsDir() {
				return false
			}
			break
		}
	}
	return true
}

// opaqueRoot reports whether layer's root is marked opaque (an entry ".wh..wh..opq"
// at the tar's root), or cannot be told.
func opaqueRoot(layer string) bool {
	for _, ns := range []string{"trusted", "user"} {
		_, err := unix.Lgetxattr(layer, ns+".overlay.opaque", nil)
		if err == nil || (!errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP)) {
			return true
		}
	}
	return false
}

// hasDirs reports whether dir holds exactly the directories names.
func hasDirs(dir string, names []string) bool {
	es, err := os.ReadDir(dir)
	if err != nil || len(es) != len(names) {
		return false
	}
	for i, e := range es { // ReadDir sorts by name, as names are
		if e.Name() != names[i] || e.Type() != fs.ModeDir {
			return false
		}
	}
	return true
}

// makeMountPoints makes dir with the directories names, in tmp/ and renamed into place
// whole; a concurrent run that got there first wins, and its copy is as good.
func (s *Store) makeMountPoints(dir string, names []string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.Dir, "tmp"), "mounts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Mkdir(filepath.Join(tmp, n), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(tmp, n), 0o755); err != nil { // past the umask
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !hasDirs(dir, names) {
		return fmt.Errorf("the image's mount points: %w", err)
	}
	return nil
}
