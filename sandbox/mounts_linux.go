package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// mountFlags are the options that map to mount(2) flags; the rest are data.
var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
}

// setupRootfs builds the new root on cfg.Root from the Plan's mount table, pivots into
// it and hides what the Plan masks. The mount namespace is private first, so nothing
// made here propagates to the host.
func setupRootfs(cfg *initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	c := &cfg.Component
	detached, err := receiveMounts()
	if err != nil {
		return err
	}
	var hosts, resolv *os.File
	if cfg.Hosts != "" {
		var err error
		if hosts, resolv, err = stageHosts(cfg.Root, cfg.Hosts, cfg.Resolv); err != nil {
			return fmt.Errorf("/etc/hosts: %w", err)
		}
	}
	var readonly []roBind
	defer func() {
		for _, r := range readonly {
			r.close()
		}
	}()
	for i, m := range c.Mounts {
		target := filepath.Join(cfg.Root, m.Target)
		fd, ok := detached[i]
		if !ok {
			fd = -1
		}
		if m.Why == "filesystem.bind" {
			if err := checkBindTarget(c.Mounts, i, cfg.Root); err != nil {
				return fmt.Errorf("bind %s (filesystem.bind): %w", m.Target, err)
			}
		}
		handled, ro, err := mountImageOne(cfg, i, m, target, fd)
		if !handled && err == nil {
			ro, err = mountOne(m, target, fd)
		}
		if err != nil {
			held.reset()
			return fmt.Errorf("%s %s (%s): %w", m.Type, m.Target, m.Why, err)
		}
		if ro != nil {
			readonly = append(readonly, *ro)
		}
	}
	for _, link := range devLinks {
		if err := os.Symlink(link[0], filepath.Join(cfg.Root, link[1])); err != nil {
			return err
		}
	}
	// Each checked, then mounted on by the descriptor the check held (held_linux.go).
	// As /etc/hosts, resolv.conf: a link there would take the mount, and the empty file
	// made for a missing one, wherever the image points it.
	for _, f := range []struct {
		staged *os.File
		name   string
	}{{hosts, "/etc/hosts"}, {resolv, "/etc/resolv.conf"}} {
		if f.staged == nil {
			continue
		}
		if c.Image != nil {
			if _, err := safeTarget(cfg.Root, f.name, false); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		}
		if err := mountHosts(f.staged, filepath.Join(cfg.Root, f.name), c.Process.Rootfs != ""); err != nil {
			held.reset()
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	// Read-only binds are remounted once everything beneath them exists.
	for i := len(readonly) - 1; i >= 0; i-- {
		if err := remountReadonly(heldPath(readonly[i].top, readonly[i].target)); err != nil {
			return fmt.Errorf("read-only %s: %w", strings.TrimPrefix(readonly[i].target, cfg.Root), err)
		}
	}
	if err := pivotRoot(cfg.Root); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	for _, p := range c.MaskedPaths {
		if err := mask(p); err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	for _, p := range c.ReadonlyPaths {
		if err := bindReadonly(p); err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	if c.Process.Rootfs == "" && c.Image == nil {
		// The tmpfs root holds only mount points: nothing may be written beside them.
		if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	return nil
}

// mountOne makes one mount and returns what must become read-only afterwards. A bind
// with a detached mount (fd ≥ 0, idmapped by the parent) attaches that instead. A target
// safeTarget checked is mounted on by the descriptor it held (held_linux.go).
func mountOne(m plan.Mount, target string, fd int) (readonly *roBind, err error) {
	flags, data := mountOptions(m)
	if m.Type != "bind" {
		at, err := heldAt(target, true)
		if err == nil && at == target {
			err = os.MkdirAll(target, 0o755)
		}
		if err != nil {
			return nil, err
		}
		if at != target {
			defer held.reset()
		}
		return nil, unix.Mount(m.Source, at, m.Type, flags, data)
	}
	if fd >= 0 {
		return attachBind(fd, target, flags)
	}
	fi, err := os.Lstat(m.Source)
	if err != nil && m.Optional && errors.Is(err, os.ErrNotExist) {
		return nil, nil // audit mode's view of a host directory this host lacks
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 && m.Target == m.Source {
		// /lib → usr/lib on merged-/usr hosts: recreate the link, whose target is
		// declared on its own, rather than bind what it points to.
		dest, err := os.Readlink(m.Source)
		if err != nil {
			return nil, err
		}
		if held.dir >= 0 && held.path == target { // checked: beneath the held parent
			defer held.reset()
			return nil, unix.Symlinkat(dest, held.dir, held.name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return nil, err
		}
		if have, err := os.Readlink(target); err == nil && have == dest {
			return nil, nil // already there, through audit mode's view of the host
		}
		return nil, os.Symlink(dest, target)
	}
	at, err := heldAt(target, fi.IsDir())
	if err == nil && at == target {
		err = makeMountPoint(target, fi.IsDir())
	}
	if err != nil {
		return nil, err
	}
	if at != target { // the recursive bind as a mount of its own, onto the checked descriptor
		return bindHeld(m.Source, target, flags)
	}
	if err := unix.Mount(m.Source, at, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, err
	}
	// Bind mounts ignore flags until remounted; nosuid and nodev take effect now.
	return bound(target, flags, nil)
}

// attachBind puts a detached mount on target, a mount point of the same kind.
func attachBind(fd int, target string, flags uintptr) (readonly *roBind, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	dir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	at, err := heldAt(target, dir)
	if err == nil && at == target {
		err = makeMountPoint(target, dir)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if at != target { // onto the checked descriptor; the mount, attached, takes its flags by fd
		if err = unix.MoveMount(fd, "", held.fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
			unix.Close(fd)
		}
	} else {
		err = attachMount(fd, target)
	}
	if err != nil {
		return nil, fmt.Errorf("move_mount: %w", err)
	}
	if at != target {
		held.reset()
		return boundTo(os.NewFile(uintptr(fd), target), target, flags)
	}
	return bound(target, flags, &st)
}

// bindHeld is the C stage's op_bind for a checked target: an open_tree clone of source
// attached onto the held descriptor, its flags given by its own descriptor, not to what
// the name holds by then (a volume's co-tenant may have renamed another mount there).
func bindHeld(source, target string, flags uintptr) (*roBind, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: source, Err: err}
	}
	if err := unix.MoveMount(fd, "", held.fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("move_mount: %w", err)
	}
	held.reset()
	return boundTo(os.NewFile(uintptr(fd), target), target, flags)
}

// roBind is a bind made read-only once everything beneath it exists: by the descriptor
// of the mount when its target was checked (top), else by its path.
type roBind struct {
	target string
	top    *os.File
}

func (r roBind) close() {
	if r.top != nil {
		r.top.Close()
	}
}

// bound gives a bind just made its flags but ro, and returns it when ro is to follow.
func bound(target string, flags uintptr, want *unix.Stat_t) (*roBind, error) {
	top, err := heldTop(target, want)
	if err != nil {
		return nil, err
	}
	return boundTo(top, target, flags)
}

// boundTo is bound for the mount top (nil: target's path), known or reopened.
func boundTo(top *os.File, target string, flags uintptr) (*roBind, error) {
	r := &roBind{target: target, top: top}
	if err := remount(heldPath(top, target), flags&^unix.MS_RDONLY); err != nil || flags&unix.MS_RDONLY == 0 {
		r.close()
		return nil, err
	}
	return r, nil
}

func makeMountPoint(target string, dir bool) error {
	if dir {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// remount adds flags to a bind mount, keeping the flags it has, among them those the
// kernel locked on it (in a user namespace nosuid, nodev, noexec or ro set by the host
// may not be cleared): mount_setattr sets only what it is given. Without it (before
// 5.12) a remount sets the flags whole, so it restates the locked ones it reads by
// statfs. No flags: nothing to add, and the bind keeps the source's. The C stage's
// remount (stage_mounts.c) makes the same calls.
func remount(target string, flags uintptr) error {
	var set uint64
	for _, a := range mountAttrs {
		if uint64(flags)&a.flag != 0 {
			set |= a.attr
		}
	}
	if set == 0 {
		return nil
	}
	if !noSetattr {
		err := unix.MountSetattr(unix.AT_FDCWD, target, 0, &unix.MountAttr{Attr_set: set})
		if err != unix.ENOSYS {
			return err
		}
		noSetattr = true
	}
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	for bit, f := range map[int64]uintptr{unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV, unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_RDONLY: unix.MS_RDONLY} {
		if st.Flags&bit != 0 {
			flags |= f
		}
	}
	return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
}

// noSetattr: the kernel has no mount_setattr; remount falls back to statfs and a remount.
var noSetattr bool

// mountAttrs are mount_setattr's names for the mount(2) flags a bind takes.
var mountAttrs = [...]struct{ flag, attr uint64 }{{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID}, {unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC}}

func remountReadonly(target string) error {
	return remount(target, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV)
}

func bindReadonly(p string) error {
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	return remountReadonly(p)
}

// mask hides a path: an empty read-only tmpfs over a directory, /dev/null over a file.
func mask(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
	}
	return unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
}

// pivotRoot makes root the new / and detaches the old one, with the pivot_root(".", ".")
// idiom runc uses: no directory for the old root is needed.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	return unix.Chdir("/")
}

// stageHosts writes content into a small tmpfs mounted on root before anything else is,
// and returns an O_PATH descriptor of the file. The new root is then mounted over the
// tmpfs and hides it; the file stays reachable through the descriptor, and the mount
// stays in this mount namespace, as bind mounts require. Nothing is written to the host.
// A resolv.conf, when given, is staged beside it the same way.
func stageHosts(root, content, resolvConf string) (hosts, resolv *os.File, err error) {
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k,mode=0755"); err != nil {
		return nil, nil, err
	}
	stage := func(name, content string) (*os.File, error) {
		path := filepath.Join(root, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return nil, err
		}
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	if hosts, err = stage("hosts", content); err != nil || resolvConf == "" {
		return hosts, nil, err
	}
	resolv, err = stage("resolv.conf", resolvConf)
	return hosts, resolv, err
}

// mountHosts binds the staged file read-only over target, creating target in the tmpfs
// root when the mounts left none. A rootfs directory is the user's: it must have one.
// It mounts a staged resolv.conf the same way.
func mountHosts(staged *os.File, target string, inRootfs bool) error {
	defer staged.Close()
	at, err := heldAt(target, false)
	if err != nil {
		return err
	}
	if _, err := os.Stat(target); at == target && errors.Is(err, os.ErrNotExist) {
		if inRootfs {
			return fmt.Errorf("the rootfs has no /etc/hosts for the stack's names to be mounted over; create an empty one")
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			return err
		}
	}
	src := fmt.Sprintf("/proc/self/fd/%d", staged.Fd())
	if err := unix.Mount(src, at, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(staged.Fd()), &st); err != nil {
		return err
	}
	top, err := heldTop(target, &st)
	if err != nil {
		return err
	}
	if top != nil {
		defer top.Close()
	}
	return unix.Mount("", heldPath(top, target), "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}
