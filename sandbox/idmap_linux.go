package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// mountFD is a detached mount the parent made for the Plan's mount at index.
type mountFD struct {
	index int
	file  *os.File
}

// idmapMounts clones each bind the Plan marks Idmap into a detached mount
// (open_tree(OPEN_TREE_CLONE)) and idmaps it through the child's own user namespace
// (mount_setattr(MOUNT_ATTR_IDMAP)), so the ids on disk are the ids inside: host uid N
// shows as N, and what the component's uid N creates is stored as N. Only the parent can:
// an idmapped mount of a host filesystem needs CAP_SYS_ADMIN in the initial user
// namespace, and the child's namespace exists only once it has started. A filesystem
// without idmapped mounts (EINVAL) fails closed, naming the path, unless the policy lists
// idmap under best_effort: the clone then goes unmapped, and a finding says so.
func idmapMounts(pid int, c *plan.Component) (_ []mountFD, findings []Finding, err error) {
	var out []mountFD
	defer func() {
		if err != nil {
			closeMounts(out)
		}
	}()
	userns := -1 // raw: an os.File of an nsfs file tries the runtime's poller first
	for i, m := range c.Mounts {
		if !m.Idmap || m.Type != "bind" {
			continue
		}
		if fi, err := os.Lstat(m.Source); err == nil && fi.Mode()&os.ModeSymlink != 0 && m.Target == m.Source {
			continue // the init stage recreates the link (mountOne)
		}
		if userns < 0 {
			name := fmt.Sprintf("/proc/%d/ns/user", pid)
			if userns, err = unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				return nil, nil, fmt.Errorf("the component's user namespace: open %s: %w", name, err)
			}
			defer unix.Close(userns)
		}
		fd, err := openTreeChecked(m)
		if se := (*storeExposed)(nil); errors.As(err, &se) {
			return nil, nil, err
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s (%s): open_tree %s: %w", m.Type, m.Target, m.Why, m.Source, err)
		}
		f := os.NewFile(uintptr(fd), m.Source)
		out = append(out, mountFD{index: i, file: f})
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(userns)}
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr)
		switch {
		case err == nil:
		case (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)) && slices.Contains(c.BestEffort, "idmap"):
			findings = append(findings, Finding{Component: c.Name, Mechanism: "idmap",
				Detail: fmt.Sprintf("%s: the filesystem has no idmapped mounts (%v); bound unmapped, so its files show as nobody inside (best_effort)", m.Source, err)})
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
			return nil, nil, fmt.Errorf("%s %s (%s): idmap: the filesystem of %s has no idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP: %v), so its owners cannot be kept; list idmap under best_effort to bind it unmapped", m.Type, m.Target, m.Why, m.Source, err)
		default:
			return nil, nil, fmt.Errorf("%s %s (%s): idmap %s: mount_setattr MOUNT_ATTR_IDMAP: %w", m.Type, m.Target, m.Why, m.Source, err)
		}
	}
	return out, findings, nil
}

func closeMounts(ms []mountFD) {
	for _, m := range ms {
		m.file.Close()
	}
}

// seqpacketPair is a connected unix socket pair that keeps message boundaries, for
// passing descriptors one per message.
func seqpacketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "mounts"), os.NewFile(uintptr(fds[1]), "mounts"), nil
}

// sendMounts passes the detached mounts to the init stage over the SOCK_SEQPACKET
// socket: one message each, the mount's index in the Plan and its descriptor
// (SCM_RIGHTS). Closing the socket ends the list.
func sendMounts(sock *os.File, ms []mountFD) error {
	defer sock.Close()
	defer closeMounts(ms)
	for _, m := range ms {
		var idx [4]byte
		binary.LittleEndian.PutUint32(idx[:], uint32(m.index))
		if err := unix.Sendmsg(int(sock.Fd()), idx[:], unix.UnixRights(int(m.file.Fd())), nil, 0); err != nil {
			return fmt.Errorf("passing the idmapped mount of %s: %w", m.file.Name(), err)
		}
	}
	return nil
}

// receiveMounts reads the parent's detached mounts: mount index → descriptor.
func receiveMounts() (map[int]int, error) {
	fds := map[int]int{}
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		var idx [4]byte
		n, oobn, _, _, err := unix.Recvmsg(fdMounts, idx[:], oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("receiving the idmapped mounts: %w", err)
		}
		if n == 0 {
			unix.Close(fdMounts)
			return fds, nil
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 || n != 4 {
			return nil, fmt.Errorf("receiving the idmapped mounts: malformed message (%v)", err)
		}
		rights, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(rights) != 1 {
			return nil, fmt.Errorf("receiving the idmapped mounts: no descriptor (%v)", err)
		}
		fds[int(binary.LittleEndian.Uint32(idx[:]))] = rights[0]
	}
}

// attachMount moves a detached mount onto target (move_mount(2)); the mount's source
// was resolved by the parent, as root.
func attachMount(fd int, target string) error {
	defer unix.Close(fd)
	return unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}
