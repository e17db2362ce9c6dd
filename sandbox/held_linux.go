package sandbox

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// held is the target the last safeTarget checked: its parent and, when it exists,
// itself, held open. The mount that follows goes onto these descriptors, not onto the
// path: a volume is shared with components running at the same time, and one of them
// can put a link where the check saw a directory before mount(2) walks the path again.
// The Go init's setup is one goroutine, as the C stage's (stage_image.c) is one thread.
var held = heldTarget{dir: -1, fd: -1}

type heldTarget struct {
	dir, fd    int // the parent; the target (-1: missing, made by heldAt)
	name, path string
}

func (h *heldTarget) reset() {
	if h.fd >= 0 {
		unix.Close(h.fd)
	}
	if h.dir >= 0 {
		unix.Close(h.dir)
	}
	*h = heldTarget{dir: -1, fd: -1}
}

func openBeneath(dir int, name string) (int, error) {
	return unix.Openat2(dir, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
}

// heldAt is the path a mount goes onto: for the target safeTarget checked, its held
// descriptor's /proc/self/fd path, the mount point made beneath the held parent first
// when missing (a directory when dir is set, as makeMountPoint); else target itself.
func heldAt(target string, dir bool) (string, error) {
	h := &held
	if h.dir < 0 || target != h.path {
		return target, nil
	}
	if h.fd < 0 {
		var err error
		if dir {
			err = unix.Mkdirat(h.dir, h.name, 0o755)
		} else {
			var f int
			if f, err = unix.Openat(h.dir, h.name, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644); err == nil {
				unix.Close(f)
			}
		}
		if err != nil && err != unix.EEXIST {
			return "", &os.PathError{Op: map[bool]string{true: "mkdir", false: "open"}[dir], Path: target, Err: err}
		}
		if h.fd, err = openBeneath(h.dir, h.name); err != nil {
			return "", &os.PathError{Op: "open", Path: target, Err: err}
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil {
		return "", err
	}
	if dir && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", &os.PathError{Op: "mkdir", Path: target, Err: unix.ENOTDIR}
	}
	return fmt.Sprintf("/proc/self/fd/%d", h.fd), nil
}

// heldTop is, after the mount on a checked target, the mount made there (opened beneath
// the held parent, no link followed) for its remounts by /proc/self/fd path, and forgets
// the target; nil for a target not checked. A name beneath the parent that is not the
// new mount fails rather than give the mount's flags elsewhere: one on the mount
// underneath, or whose root is not want (what was mounted; nil: not known). A volume's
// co-tenant can rename the mount made away and another of this run's mount points in
// the volume to the name: a mount id not the one underneath is not enough.
func heldTop(target string, want *unix.Stat_t) (*os.File, error) {
	h := &held
	if h.dir < 0 || target != h.path {
		return nil, nil
	}
	defer h.reset()
	fd, err := openBeneath(h.dir, h.name)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: target, Err: err}
	}
	var top, under unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &top) == nil &&
		unix.Statx(h.fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &under) == nil &&
		top.Mask&under.Mask&unix.STATX_MNT_ID != 0 && top.Mnt_id == under.Mnt_id || !isRoot(fd, want) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not the mount just made: %w", target, unix.EBUSY)
	}
	return os.NewFile(uintptr(fd), target), nil
}

// isRoot is whether fd is want's object (nil: not known).
func isRoot(fd int, want *unix.Stat_t) bool {
	var st unix.Stat_t
	return want == nil || unix.Fstat(fd, &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino
}

// heldPath is f's /proc/self/fd path, or target when f is nil.
func heldPath(f *os.File, target string) string {
	if f == nil {
		return target
	}
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd())
}
