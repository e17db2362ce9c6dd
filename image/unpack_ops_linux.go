package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// file writes a regular file: created with O_EXCL|O_NOFOLLOW (a name that exists is
// removed first, so a hard link or symlink left there is never written through), the
// declared size copied exactly, then xattrs, owner, mode and times on the open fd.
func (u *unpacker) file(o op, h *tar.Header, r io.Reader, keep map[string]string) error {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	pfd, err := u.dirfd(o.dir, true)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, o.base, flags, 0o600)
	if errors.Is(err, unix.EEXIST) {
		if pfd, err = u.replace(o); err == nil {
			fd, err = unix.Openat(pfd, o.base, flags, 0o600)
		}
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for left := h.Size; left > 0; {
		n := min(int64(len(u.buf)), left)
		k, err := io.ReadFull(r, u.buf[:n])
		if err != nil {
			return fmt.Errorf("file data ends early: %w", err)
		}
		if err := writeAll(fd, u.buf[:k]); err != nil {
			return err
		}
		left -= int64(k)
	}
	u.info.Size += h.Size
	u.setXattrs(fd, h.Name, keep)
	if u.chown {
		if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, o.mode); err != nil {
		return err
	}
	return unix.UtimesNanoAt(fd, "", times(h.AccessTime, h.ModTime), unix.AT_EMPTY_PATH)
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (u *unpacker) setXattrs(fd int, entry string, keep map[string]string) {
	for k, v := range keep {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil {
			u.note(entry, fmt.Sprintf("xattr %s not set: %v", k, err))
		}
	}
}

// mkdir makes a directory (or keeps the one there); its mode and times are applied at
// the end, so a read-only directory does not stop its own entries.
func (u *unpacker) mkdir(o op, h *tar.Header, keep map[string]string) error {
	if o.name != "" {
		pfd, err := u.dirfd(o.dir, true)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(pfd, o.base, 0o700)
		if errors.Is(err, unix.EEXIST) && !u.isDir(pfd, o.base) {
			wasWhiteout := u.isWhiteout(pfd, o.base)
			if pfd, err = u.replace(o); err == nil {
				err = unix.Mkdirat(pfd, o.base, 0o700)
			}
			if err == nil && wasWhiteout {
				// The directory replaces a lower one this layer deleted: it must not merge.
				err = u.opaque(o.name)
			}
		} else if errors.Is(err, unix.EEXIST) {
			err = nil
		}
		if err != nil {
			return err
		}
	}
	fd, err := u.dirfd(o.name, false)
	if err != nil {
		return err
	}
	u.setXattrs(fd, h.Name, keep)
	if u.chown {
		if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	u.addDir(dirMeta{name: o.name, mode: o.mode, atime: h.AccessTime, mod: h.ModTime})
	return nil
}

// addDir records a directory's final mode and times; a later entry of the same name wins.
func (u *unpacker) addDir(d dirMeta) {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		if u.dirs[i].name == d.name {
			u.dirs[i] = d
			return
		}
	}
	u.dirs = append(u.dirs, d)
}

// link makes a hard link to an entry this layer already wrote: the target resolves in
// this layer only, so a link can reach neither the host nor another layer.
func (u *unpacker) link(o op) error {
	tdir, tbase := path.Split(o.target)
	tfd, err := u.openIn(trimSlash(tdir))
	if err != nil {
		return fmt.Errorf("hardlink target %q is not in this layer", o.target)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hardlink target %q is not in this layer", o.target)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFLNK {
		return fmt.Errorf("hardlink target %q is not a file", o.target)
	}
	return u.create(o, func(pfd int) error { return unix.Linkat(tfd, tbase, pfd, o.base, 0) }, nil)
}

// whiteout deletes NAME of the lower layers: overlayfs's 0/0 character device, the one
// device in the store, made by confine (the kernel lets anyone make it since Linux 5.8).
func (u *unpacker) whiteout(o op) error {
	pfd, err := u.dirfd(o.dir, true)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if unix.Fstatat(pfd, o.base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		u.note(o.name, "whiteout of an entry of this same layer ignored (a whiteout hides lower layers only)")
		return nil
	}
	return unix.Mknodat(pfd, o.base, unix.S_IFCHR, 0)
}

// opaque marks a directory so overlayfs hides what lower layers hold there.
func (u *unpacker) opaque(name string) error {
	fd, err := u.dirfd(name, true)
	if err != nil {
		return err
	}
	return unix.Fsetxattr(fd, u.xattr+".overlay.opaque", []byte("y"), 0)
}

func (u *unpacker) isDir(pfd int, base string) bool {
	var st unix.Stat_t
	return unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

func (u *unpacker) isWhiteout(pfd int, base string) bool {
	var st unix.Stat_t
	return unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// replace removes what the layer already holds at o's name and returns a fresh fd of
// the parent (removing a directory empties the fd cache).
func (u *unpacker) replace(o op) (int, error) {
	pfd, err := u.dirfd(o.dir, true)
	if err != nil {
		return -1, err
	}
	if u.isDir(pfd, o.base) {
		err = removeAt(pfd, o.base)
		u.dropCache()
	} else {
		err = unix.Unlinkat(pfd, o.base, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("replacing the earlier entry: %w", err)
	}
	return u.dirfd(o.dir, true)
}

// removeAt removes a directory tree under dfd without following any symlink in it.
func removeAt(dfd int, name string) error {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	for _, n := range names {
		if err == nil {
			if err = unix.Unlinkat(fd, n, 0); errors.Is(err, unix.EISDIR) {
				err = removeAt(fd, n)
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}

// finishDirs applies the directories' modes and times, deepest last-created first.
func (u *unpacker) finishDirs() error {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		d := u.dirs[i]
		fd, err := u.root, error(nil)
		if d.name != "" {
			fd, err = unix.Openat2(u.root, d.name, &unix.OpenHow{
				Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
				Resolve: resolveFlags,
			})
			if err != nil {
				continue // replaced by a later entry
			}
		}
		err = unix.Fchmod(fd, d.mode)
		if err == nil && !d.mod.IsZero() {
			err = unix.UtimesNanoAt(fd, "", times(d.atime, d.mod), unix.AT_EMPTY_PATH)
		}
		if fd != u.root {
			unix.Close(fd)
		}
		if err != nil {
			return u.refuse(d.name, err.Error())
		}
	}
	return nil
}
