package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// unpacker writes one layer's tar stream into a fresh directory it alone writes to.
// Parents are resolved with openat2(RESOLVE_IN_ROOT), so a symlink of the layer (even
// "/" or "../../..") resolves inside the layer, as it will at run time; the last
// component is never followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), and a file is always
// created anew (O_EXCL), never opened for writing where it might already be a link.
type unpacker struct {
	root   int // the layer root, O_DIRECTORY
	layer  string
	lim    Limits
	chown  bool // only root may give files their owners
	xattr  string
	cache  map[string]int
	dirs   []dirMeta
	info   LayerInfo
	buf    []byte
	logSum int64 // sum of file sizes
}

type dirMeta struct {
	name       string
	mode       uint32
	atime, mod time.Time
}

const (
	resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV
	maxCachedFDs = 128
)

// unpack writes the tar stream r into dir (an empty directory) and returns what it did.
func unpack(r io.Reader, dir, layer string, lim Limits) (LayerInfo, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return LayerInfo{}, err
	}
	u := &unpacker{root: fd, layer: layer, lim: lim, chown: os.Geteuid() == 0,
		cache: map[string]int{}, buf: make([]byte, 256<<10)}
	u.xattr = "user"
	if u.chown {
		u.xattr = "trusted"
	}
	u.info.Xattr = u.xattr
	u.addDir(dirMeta{name: "", mode: 0o755}) // unless the layer's "./" entry says otherwise
	defer u.closeAll()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.info, u.refuse("", fmt.Sprintf("reading the tar stream: %v", err))
		}
		if u.info.Entries++; u.info.Entries > lim.Entries {
			return u.info, u.refuse(h.Name, fmt.Sprintf("more than %d entries in one layer", lim.Entries))
		}
		if err := u.entry(h, tr); err != nil {
			var le *LayerError
			if errors.As(err, &le) {
				return u.info, err
			}
			return u.info, u.refuse(h.Name, err.Error())
		}
	}
	return u.info, u.finishDirs()
}

func (u *unpacker) refuse(entry, why string) error {
	return &LayerError{Layer: u.layer, Entry: entry, Reason: why}
}

func (u *unpacker) note(entry, what string) {
	if len(u.info.Notes) < 100 {
		u.info.Notes = append(u.info.Notes, fmt.Sprintf("%q: %s", entry, what))
	}
}

// entry applies one header; size limits are checked here, before a byte is written.
func (u *unpacker) entry(h *tar.Header, r io.Reader) error {
	o, err := planEntry(h)
	if err != nil {
		return err
	}
	keep, dropped := xattrs(h)
	if dropped != "" {
		u.note(h.Name, dropped)
	}
	if o.note != "" {
		u.note(h.Name, o.note)
	}
	switch o.kind {
	case opSkip:
		return nil
	case opDir:
		return u.mkdir(o, h, keep)
	case opFile:
		if h.Size < 0 || h.Size > u.lim.EntrySize {
			return fmt.Errorf("file of %d bytes is past the limit of %d per entry", h.Size, u.lim.EntrySize)
		}
		if u.logSum += h.Size; u.logSum > u.lim.LayerSize {
			return fmt.Errorf("files add up to more than %d bytes in one layer", u.lim.LayerSize)
		}
		return u.file(o, h, r, keep)
	case opSymlink:
		return u.create(o, func(pfd int) error { return unix.Symlinkat(o.target, pfd, o.base) }, h)
	case opLink:
		return u.link(o)
	case opWhiteout:
		return u.whiteout(o)
	case opOpaque:
		return u.opaque(o.name)
	}
	return nil
}

// openIn opens a directory of the layer, resolving every symlink inside the layer.
func (u *unpacker) openIn(name string) (int, error) {
	if name == "" {
		name = "."
	}
	return unix.Openat2(u.root, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: resolveFlags,
	})
}

// dirfd returns an fd for directory dir of the layer, creating missing parents as
// 0755 directories (tar -x does the same); a parent that is a file is refused.
func (u *unpacker) dirfd(dir string, create bool) (int, error) {
	if dir == "" {
		return u.root, nil
	}
	if fd, ok := u.cache[dir]; ok {
		return fd, nil
	}
	fd, err := u.openIn(dir)
	if errors.Is(err, unix.ENOENT) && create {
		pdir, base := path.Split(dir)
		pfd, perr := u.dirfd(trimSlash(pdir), true)
		if perr != nil {
			return -1, perr
		}
		if err = unix.Mkdirat(pfd, base, 0o700); err != nil {
			return -1, fmt.Errorf("parent %q is a symlink that leads nowhere in this layer, or not a directory: %w", dir, err)
		}
		u.dirs = append(u.dirs, dirMeta{name: dir, mode: 0o755})
		fd, err = u.openIn(dir)
	}
	if err != nil {
		return -1, fmt.Errorf("parent %q is not a directory of this layer: %w", dir, err)
	}
	if len(u.cache) >= maxCachedFDs {
		u.dropCache()
	}
	u.cache[dir] = fd
	return fd, nil
}

func trimSlash(s string) string {
	if len(s) > 0 && s[len(s)-1] == '/' {
		return s[:len(s)-1]
	}
	return s
}

func (u *unpacker) dropCache() {
	for k, fd := range u.cache {
		unix.Close(fd)
		delete(u.cache, k)
	}
}

func (u *unpacker) closeAll() {
	u.dropCache()
	unix.Close(u.root)
}

// create makes one non-directory entry with mk; an existing entry of the same name (a
// later entry wins, as with tar -x) is removed first. Owner and times are set without
// following the new entry.
func (u *unpacker) create(o op, mk func(pfd int) error, h *tar.Header) error {
	pfd, err := u.dirfd(o.dir, true)
	if err != nil {
		return err
	}
	err = mk(pfd)
	if errors.Is(err, unix.EEXIST) {
		if pfd, err = u.replace(o); err == nil {
			err = mk(pfd)
		}
	}
	if err != nil || h == nil {
		return err
	}
	if u.chown {
		if err := unix.Fchownat(pfd, o.base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return unix.UtimesNanoAt(pfd, o.base, times(h.AccessTime, h.ModTime), unix.AT_SYMLINK_NOFOLLOW)
}

func times(a, m time.Time) []unix.Timespec {
	if a.IsZero() {
		a = m
	}
	return []unix.Timespec{unix.NsecToTimespec(a.UnixNano()), unix.NsecToTimespec(m.UnixNano())}
}
