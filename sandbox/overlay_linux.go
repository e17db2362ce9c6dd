package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// ImageRoot is the runtime half of a Plan's image: where the store keeps its layers and
// the run's upper (image.Store.RunImage makes them and checks the Plan's pins).
type ImageRoot struct {
	Lowers []string // unpacked layers, top first
	// Upper and Work are the run's own, on the store's filesystem; both "" for a run
	// that writes nothing into its root (RootWrites): the overlay is the lowers alone.
	Upper, Work string
	UserXattr   bool // the layers carry user.overlay.* xattrs
	// Mounted, when set, is called once the overlay is made (image.Run.Mounted).
	Mounted func()
}

// imageMounts makes, in the parent, the detached mounts of a Plan's image and volumes:
//
//   - the overlay root, built with the new mount API (fsopen, one fsconfig "lowerdir+"
//     per layer, so no option string bounds the layer count) from idmapped lower layers:
//     each layer, unpacked with the owners its tar gave (host root's), is cloned
//     (open_tree) and idmapped through the component's user namespace, so its uid 0
//     shows as the component's root. The overlay itself cannot be idmapped (EINVAL on
//     Linux 6.18: overlayfs lacks FS_ALLOW_IDMAP); its upper is owned by the component's
//     host range, which is what the component's writes store there.
//   - each volume, cloned and idmapped like a write path.
//
// The init stage attaches them (setupRootfs).
func imageMounts(pid int, c *plan.Component, root *ImageRoot, volumes map[string]string) (_ []mountFD, err error) {
	var out []mountFD
	defer func() {
		if err != nil {
			closeMounts(out)
		}
	}()
	userns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return nil, fmt.Errorf("the component's user namespace: %w", err)
	}
	defer userns.Close()
	for i, m := range c.Mounts {
		switch m.Type {
		case "overlay":
			if root == nil {
				return nil, fmt.Errorf("run.image %s: the image's layers were not prepared", c.Image.Ref)
			}
			fd, err := mountOverlay(root, userns)
			if err != nil {
				return nil, fmt.Errorf("the overlay root of %s: %w", c.Image.Ref, err)
			}
			out = append(out, mountFD{index: i, file: os.NewFile(uintptr(fd), "overlay")})
		case "volume":
			dir, ok := volumes[m.Volume]
			if !ok {
				return nil, fmt.Errorf("volume %s was not prepared", m.Volume)
			}
			fd, err := idmappedClone(dir, userns, unix.AT_RECURSIVE)
			if err != nil {
				return nil, fmt.Errorf("volume %s at %s: %w", m.Volume, m.Target, err)
			}
			out = append(out, mountFD{index: i, file: os.NewFile(uintptr(fd), dir)})
		}
	}
	return out, nil
}

// idmappedClone is a detached copy of the mount at dir, seen through userns's ids.
func idmappedClone(dir string, userns *os.File, recursive uint) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|recursive)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", dir, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|recursive, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmap %s: mount_setattr MOUNT_ATTR_IDMAP: %w", dir, err)
	}
	return fd, nil
}

// mountOverlay builds the overlay and returns its detached mount.
func mountOverlay(root *ImageRoot, userns *os.File) (int, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	// Each clone stays open until the overlay is made: closing a detached mount's last
	// descriptor unmounts it, and overlayfs then cannot clone it ("failed to clone
	// lowerpath"). Then they are closed on another thread: that unmount waits for an RCU
	// grace period (namespace_unlock), milliseconds on a loaded host, which the start
	// need not wait for (overlayfs holds clones of its own).
	var clones []int
	defer func() { go closeFDs(clones) }()
	for _, l := range root.Lowers {
		lfd, err := idmappedClone(l, userns, 0)
		if err != nil {
			return -1, err
		}
		clones = append(clones, lfd)
		if err = unix.FsconfigSetFd(fsfd, "lowerdir+", lfd); err != nil {
			return -1, fmt.Errorf("fsconfig lowerdir+ %s: %w", l, err)
		}
	}
	if root.Upper != "" {
		if err := overlayUpper(fsfd, root); err != nil {
			return -1, err
		}
	}
	if root.UserXattr {
		if err := unix.FsconfigSetFlag(fsfd, "userxattr"); err != nil {
			return -1, fmt.Errorf("fsconfig userxattr: %w", err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig create: %w", err)
	}
	if root.Mounted != nil {
		root.Mounted()
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return -1, fmt.Errorf("fsmount: %w", err)
	}
	return fd, nil
}

// overlayUpper gives the overlay being built on fsfd the run's upper and work dirs.
func overlayUpper(fsfd int, root *ImageRoot) error {
	opts := [][2]string{{"upperdir", root.Upper}, {"workdir", root.Work}}
	for _, o := range opts {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return fmt.Errorf("fsconfig %s %s: %w", o[0], o[1], err)
		}
	}
	// volatile: the upper is the run's own and removed after it (image.Run), so the
	// overlay's unmount, when the component's last process exits, skips the syncfs of the
	// store's filesystem it would otherwise wait for.
	if err := unix.FsconfigSetFlag(fsfd, "volatile"); err != nil {
		return fmt.Errorf("fsconfig volatile: %w", err)
	}
	return nil
}

// safeTarget makes sure no component of target, inside the root at root, is a symlink
// of the image: a mount onto a link would land where the image points it (the host's
// /etc, before pivot_root). Missing parent directories are made, in the run's upper;
// the last component is made as a directory when mkdir is set. It reports whether it
// made the last component.
// The target stays held (held_linux.go) for the mount that follows.
func safeTarget(root, target string, mkdir bool) (made bool, err error) {
	held.reset()
	rel := strings.TrimPrefix(path.Clean("/"+target), "/")
	if rel == "" {
		return false, nil
	}
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		last := i == len(parts)-1
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH}
		fd, err := unix.Openat2(dir, part, &how)
		if errors.Is(err, unix.ENOENT) && (!last || mkdir) {
			if err = unix.Mkdirat(dir, part, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				made = last
				fd, err = unix.Openat2(dir, part, &how)
			}
		} else if errors.Is(err, unix.ENOENT) {
			// A file target: the mount step makes it, beneath the directory held here.
			held = heldTarget{dir: dir, fd: -1, name: part, path: path.Join(root, rel)}
			return false, nil
		}
		if last && err == nil {
			held = heldTarget{dir: dir, fd: fd, name: part, path: path.Join(root, rel)}
		} else {
			unix.Close(dir)
		}
		if errors.Is(err, unix.ELOOP) {
			return false, fmt.Errorf("/%s is a symlink in the image: refused (a mount onto it would follow the link)", strings.Join(parts[:i+1], "/"))
		}
		if err != nil {
			return false, fmt.Errorf("/%s: %w", strings.Join(parts[:i+1], "/"), err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || (!last && st.Mode&unix.S_IFMT != unix.S_IFDIR) {
			held.reset()
			if !last {
				unix.Close(fd)
			}
			return false, fmt.Errorf("/%s is not a directory in the image", strings.Join(parts[:i+1], "/"))
		}
		dir = fd
	}
	return made, nil
}

// mountUpper makes a write path of an image writable: a bind of the overlay's own
// directory onto itself, which stays writable once the root mount is read-only. A
// directory the image lacks is made in the upper, owned by the component's user (by
// resolveUser, once a named user is resolved after pivot_root).
func mountUpper(cfg *initConfig, m plan.Mount) error {
	root, p := cfg.Root, cfg.Component.Process
	made, err := safeTarget(root, m.Target, true)
	if err != nil {
		return err
	}
	target := path.Join(root, m.Target)
	at, err := heldAt(target, true)
	if err != nil {
		return err
	}
	named := p.User != "" || p.Group != ""
	if made && named {
		cfg.chownLater = append(cfg.chownLater, m.Target)
	} else if made {
		if err := unix.Fchownat(held.fd, "", int(p.UID), int(p.GID), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lchown", Path: target, Err: err}
		}
	}
	if err := unix.Mount(at, at, "", unix.MS_BIND, ""); err != nil { // at: the checked directory's descriptor
		return err
	}
	var want unix.Stat_t // the directory bound onto itself
	if at != target {
		if err := unix.Fstat(held.fd, &want); err != nil {
			return err
		}
	}
	top, err := heldTop(target, &want)
	if err != nil {
		return err
	}
	if top != nil {
		defer top.Close()
	}
	if err := remount(heldPath(top, target), unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return err
	}
	if made && named { // the writable bind's root, for giveMade: the overlay's is read-only by then
		fd := -1
		if top != nil {
			if fd, err = unix.FcntlInt(top.Fd(), unix.F_DUPFD_CLOEXEC, 0); err != nil {
				return err
			}
		}
		cfg.chownHeld = append(cfg.chownHeld, fd)
	}
	return nil
}

// mountImageOne makes the mounts only images and volumes have (m is the Plan's mount
// i); handled is false for the others, which mountOne makes. In an image every target
// is checked first (safeTarget): the image's links must not steer a mount. One inside a
// tmpfs of the Plan's lies in no image (inFreshTmpfs).
func mountImageOne(cfg *initConfig, i int, m plan.Mount, target string, fd int) (handled bool, readonly *roBind, err error) {
	c := &cfg.Component
	if c.Image != nil && m.Type != "overlay" && m.Type != "upper" && !inFreshTmpfs(c.Mounts, i) {
		if _, err := safeTarget(cfg.Root, m.Target, m.Type != "bind" || m.Source == "" || isDir(m.Source)); err != nil {
			return true, nil, err
		}
	}
	var flags uintptr
	for _, o := range m.Options {
		flags |= mountFlags[o]
	}
	switch m.Type {
	case "overlay", "volume":
		if fd < 0 {
			return true, nil, fmt.Errorf("the parent passed no mount for it")
		}
		ro, err := attachBind(fd, target, flags)
		return true, ro, err
	case "upper":
		return true, nil, mountUpper(cfg, m)
	}
	return false, nil, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func hasVolumes(c *plan.Component) bool {
	for _, m := range c.Mounts {
		if m.Type == "volume" {
			return true
		}
	}
	return false
}
