// Package observe decides, for a component in audit mode, which of the syscalls the
// supervisor observed (seccomp user notification, sandbox/observe_linux.go) its policy
// would have denied: file accesses against the Plan's Landlock rules, TCP ports against
// its bind and connect rules, and the capability a call needed against its capability
// sets. It is pure: the sandbox reads the process, this package only compares.
package observe

import (
	"path"
	"sync"
)

// Call is one observed syscall and what the supervisor read for it. Each read is
// observation only: the process may change its memory or files after it (TOCTOU), so
// nothing here ever decides whether the call proceeds.
type Call struct {
	Pid     int       `json:"pid"`
	Syscall string    `json:"syscall"`
	Args    [6]uint64 `json:"args"`
	// Paths are the call's path arguments, absolute and lexically clean, in the order
	// PathArgs lists them; Kinds says what each names (before the call).
	Paths []string   `json:"paths,omitempty"`
	Kinds []FileKind `json:"kinds,omitempty"`
	// Sock is the socket of a bind or connect, when its address could be read.
	Sock *Sock `json:"sock,omitempty"`
	// IDs are the caller's real, effective and saved uid and gid before the call, as the
	// component sees them; Owner the uid and gid of a chown's file.
	IDs   *Creds    `json:"ids,omitempty"`
	Owner *[2]int64 `json:"owner,omitempty"`
}

// FileKind is what a path names.
type FileKind string

// The kinds of files the rights depend on.
const (
	Missing FileKind = "missing"
	Dir     FileKind = "dir"
	File    FileKind = "file" // anything else that exists
)

// Sock is a socket address: family inet, inet6 or unix; Type stream or dgram.
type Sock struct {
	Family string `json:"family"`
	Type   string `json:"type,omitempty"`
	Proto  string `json:"proto,omitempty"` // tcp, udp, mptcp
	Addr   string `json:"addr,omitempty"`
	Port   uint16 `json:"port,omitempty"`
	Path   string `json:"path,omitempty"` // a unix socket's path, resolved as Paths are
}

// Creds are a process's ids inside its namespace.
type Creds struct {
	UID    [3]uint32 `json:"uid"` // real, effective, saved
	GID    [3]uint32 `json:"gid"`
	Groups []uint32  `json:"groups,omitempty"`
}

// PathArg locates one path argument: Path is the argument index holding the string,
// Dirfd the one holding the directory it is relative to (-1: the working directory).
type PathArg struct{ Dirfd, Path int }

// pathArgs are the path arguments of the observed syscalls (their man pages). symlink's
// target is text, not a path the call touches, and is left out. Made at the first
// observed call, not at the package's init: only audit mode observes.
var pathArgs = sync.OnceValue(func() map[string][]PathArg {
	return map[string][]PathArg{
		"open": {{-1, 0}}, "creat": {{-1, 0}}, "openat": {{0, 1}}, "openat2": {{0, 1}},
		"execve": {{-1, 0}}, "execveat": {{0, 1}}, "truncate": {{-1, 0}},
		"mkdir": {{-1, 0}}, "mkdirat": {{0, 1}}, "mknod": {{-1, 0}}, "mknodat": {{0, 1}},
		"unlink": {{-1, 0}}, "unlinkat": {{0, 1}}, "rmdir": {{-1, 0}},
		"rename": {{-1, 0}, {-1, 1}}, "renameat": {{0, 1}, {2, 3}}, "renameat2": {{0, 1}, {2, 3}},
		"link": {{-1, 0}, {-1, 1}}, "linkat": {{0, 1}, {2, 3}},
		"symlink": {{-1, 1}}, "symlinkat": {{1, 2}},
		"chown": {{-1, 0}}, "lchown": {{-1, 0}}, "fchownat": {{0, 1}},
	}
})

// PathArgs are syscall's path arguments, nil for a call without any.
func PathArgs(syscall string) []PathArg { return pathArgs()[syscall] }

// Resolve makes p, as a process gave it, absolute: relative to dir (its working
// directory or the dirfd's path). Lexical only: symlinks are not followed, where the
// kernel (and Landlock) would follow them.
func Resolve(dir, p string) string {
	if p == "" {
		return path.Clean(dir) // AT_EMPTY_PATH: the dirfd itself
	}
	if !path.IsAbs(p) {
		p = path.Join(dir, p)
	}
	return path.Clean(p)
}
