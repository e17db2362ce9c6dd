package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/observe"
)

// thread reads a notified thread's arguments, as root in the initial namespaces.
type thread struct{ tid int }

func (t thread) proc(name string) string { return "/proc/" + strconv.Itoa(t.tid) + "/" + name }

// read copies n bytes at addr out of the thread's memory; fewer where the mapping ends.
func (t thread) read(addr uint64, n int) ([]byte, error) {
	if addr == 0 {
		return nil, errors.New("NULL")
	}
	if n <= 0 {
		return nil, nil // a length of the component's choosing: connect(fd, addr, 0)
	}
	buf := make([]byte, n)
	got, err := unix.ProcessVMReadv(t.tid, []unix.Iovec{{Base: &buf[0], Len: uint64(n)}},
		[]unix.RemoteIovec{{Base: uintptr(addr), Len: n}}, 0)
	if err != nil {
		return nil, err
	}
	return buf[:got], nil
}

// str reads a NUL-terminated string of at most PATH_MAX bytes, page by page, so that a
// string near the end of a mapping is still read.
func (t thread) str(addr uint64) (string, error) {
	var out []byte
	for len(out) < unix.PathMax {
		chunk := 4096 - int(addr%4096)
		b, err := t.read(addr, chunk)
		if err != nil {
			return "", err
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return string(append(out, b[:i]...)), nil
		}
		out, addr = append(out, b...), addr+uint64(len(b))
	}
	return "", errors.New("path longer than PATH_MAX")
}

// path is one path argument made absolute against its dirfd or the working directory,
// as the component names it inside its root.
func (t thread) path(args [6]uint64, a observe.PathArg) (string, error) {
	p, err := t.str(args[a.Path])
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(p, "/") {
		return observe.Resolve("/", p), nil
	}
	dir := t.proc("cwd")
	if a.Dirfd >= 0 && int32(args[a.Dirfd]) != unix.AT_FDCWD {
		dir = t.proc("fd/" + strconv.Itoa(int(int32(args[a.Dirfd]))))
	}
	// The link reads as the path inside the thread's root: its mount namespace is not
	// the supervisor's, and the kernel names the file from that namespace's root.
	base, err := os.Readlink(dir)
	if err != nil {
		return "", err
	}
	return observe.Resolve(base, p), nil
}

// openInRoot opens p (O_PATH) as the thread sees it: RESOLVE_IN_ROOT keeps every
// symlink inside the thread's root, so the supervisor, root on the host, never follows
// a component's link to a file of its own.
func (t thread) openInRoot(p string, flags uint64) (int, error) {
	root, err := unix.Open(t.proc("root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(root)
	return unix.Openat2(root, strings.TrimPrefix(p, "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | flags,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

// openBeneath opens rel (O_PATH) beneath dir, following no symlink or magic link.
func (t thread) openBeneath(dir, rel string) (int, error) {
	d, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(d)
	return unix.Openat2(d, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
}

// kind says whether p exists and is a directory, not following a last symlink.
func (t thread) kind(p string) observe.FileKind {
	fd, err := t.openInRoot(p, unix.O_NOFOLLOW)
	if rest, ok := strings.CutPrefix(p, "/proc/self/"); ok && err != nil {
		// /proc/self names the reader: look in the thread's own entry instead, beneath
		// it and through no link (its root and cwd links lead out of the sandbox's view).
		fd, err = t.openBeneath("/proc/"+strconv.Itoa(t.tgid()), rest)
	}
	if err != nil {
		return observe.Missing
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return observe.Dir
	}
	return observe.File
}

// sock reads a bind or connect's address and the socket's type (a copy of the
// descriptor through pidfd_getfd, Linux 5.6).
func (t thread) sock(fd int, addr, size uint64) *observe.Sock {
	b, err := t.read(addr, int(min(size, 128)))
	if err != nil || len(b) < 2 {
		return nil
	}
	s := &observe.Sock{}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) < 8 {
			return nil
		}
		s.Family, s.Port, s.Addr = "inet", binary.BigEndian.Uint16(b[2:4]), netip.AddrFrom4([4]byte(b[4:8])).String()
	case unix.AF_INET6:
		if len(b) < 24 {
			return nil
		}
		s.Family, s.Port, s.Addr = "inet6", binary.BigEndian.Uint16(b[2:4]), netip.AddrFrom16([16]byte(b[8:24])).String()
	case unix.AF_UNIX:
		s.Family = "unix"
		if name := b[2:]; len(name) > 0 && name[0] != 0 { // not abstract
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if dir, err := os.Readlink(t.proc("cwd")); err == nil {
				s.Path = observe.Resolve(dir, string(name))
			}
		}
	default:
		return nil
	}
	s.Type, s.Proto = t.sockType(fd)
	return s
}

func (t thread) sockType(fd int) (string, string) {
	pidfd, err := unix.PidfdOpen(t.tgid(), 0)
	if err != nil {
		return "", ""
	}
	defer unix.Close(pidfd)
	own, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return "", ""
	}
	defer unix.Close(own)
	typ, _ := unix.GetsockoptInt(own, unix.SOL_SOCKET, unix.SO_TYPE)
	proto, _ := unix.GetsockoptInt(own, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	types := map[int]string{unix.SOCK_STREAM: "stream", unix.SOCK_DGRAM: "dgram", unix.SOCK_RAW: "raw", unix.SOCK_SEQPACKET: "seqpacket"}
	protos := map[int]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_MPTCP: "mptcp"}
	return types[typ], protos[proto]
}

// status is /proc/TID/status as key → fields.
func (t thread) status() map[string][]string {
	data, err := os.ReadFile(t.proc("status"))
	if err != nil {
		return nil
	}
	out := map[string][]string{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.Fields(v)
		}
	}
	return out
}

func (t thread) tgid() int {
	if f := t.status()["Tgid"]; len(f) == 1 {
		n, _ := strconv.Atoi(f[0])
		return n
	}
	return t.tid
}

// creds are the thread's ids as the component sees them: /proc shows them mapped into
// the supervisor's namespace, and the thread's uid_map and gid_map map them back.
func (t thread) creds() *observe.Creds {
	st := t.status()
	umap, gmap := readIDMap(t.proc("uid_map")), readIDMap(t.proc("gid_map"))
	ids := func(fields []string, m []idMapLine) ([3]uint32, bool) {
		var out [3]uint32
		if len(fields) < 3 {
			return out, false
		}
		for i := range out {
			n, err := strconv.ParseUint(fields[i], 10, 32)
			if err != nil {
				return out, false
			}
			out[i] = inside(m, uint32(n))
		}
		return out, true
	}
	c := &observe.Creds{}
	var ok1, ok2 bool
	c.UID, ok1 = ids(st["Uid"], umap)
	c.GID, ok2 = ids(st["Gid"], gmap)
	if !ok1 || !ok2 {
		return nil
	}
	for _, g := range st["Groups"] {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			c.Groups = append(c.Groups, inside(gmap, uint32(n)))
		}
	}
	return c
}

// owner is the uid and gid of a chown's file, as the component sees them.
func (t thread) owner(c observe.Call) *[2]int64 {
	var fd int
	var err error
	switch {
	case c.Syscall == "fchown":
		fd, err = unix.Open(t.proc("fd/"+strconv.Itoa(int(int32(c.Args[0])))), unix.O_PATH|unix.O_CLOEXEC, 0)
	case len(c.Paths) > 0:
		fd, err = t.openInRoot(c.Paths[0], 0)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return nil
	}
	u, g := inside(readIDMap(t.proc("uid_map")), st.Uid), inside(readIDMap(t.proc("gid_map")), st.Gid)
	return &[2]int64{int64(u), int64(g)}
}

// idMapLine is one line of /proc/PID/uid_map as the supervisor reads it: ids from In
// inside are Out onwards in the supervisor's namespace.
type idMapLine struct{ in, out, size uint32 }

func readIDMap(file string) []idMapLine {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var m []idMapLine
	for line := range strings.Lines(string(data)) {
		var l idMapLine
		if _, err := fmt.Sscan(line, &l.in, &l.out, &l.size); err == nil {
			m = append(m, l)
		}
	}
	return m
}

// inside maps a host id into the namespace; 65534 (overflow) when it is not mapped.
func inside(m []idMapLine, host uint32) uint32 {
	for _, l := range m {
		if host >= l.out && host-l.out < l.size {
			return l.in + host - l.out
		}
	}
	return 65534
}
