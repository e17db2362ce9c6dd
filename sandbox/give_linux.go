package sandbox

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// give is os.Lchown that follows no symlink on the way either (openat2's
// RESOLVE_NO_SYMLINKS), as the C stage's OP_USER gives: safeTarget refused the image's
// links when the path was made, and a link a later mount brought in (a volume another
// component writes) must not steer the chown onto what it points at. Its last component,
// a link, is given itself, as lchown gives it. Without openat2, os.Lchown.
func give(path string, uid, gid int) error {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &how)
	if errors.Is(err, unix.ENOSYS) {
		return os.Lchown(path, uid, gid)
	}
	if err == nil {
		err = unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(fd)
	}
	if err != nil {
		return &fs.PathError{Op: "lchown", Path: path, Err: err}
	}
	return nil
}
