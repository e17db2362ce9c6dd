// Package progcache keeps the seccomp programs confine's start commands built, so that a
// start of a policy built before does not pay libseccomp again (policy.ProgramStore). The
// programs are loaded into the kernel as a component's filter, so the store is root's
// alone: a directory only root can write (/var/cache/confine/seccomp), entries only root
// wrote, each holding the key it was kept under, and named after that key and the
// running binary, so that a new confine builds anew.
package progcache

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultDir is where root's start commands keep programs.
const DefaultDir = "/var/cache/confine/seccomp"

// EnvDir names another directory (tests), or "off" for no store.
const EnvDir = "CONFINE_SECCOMP_CACHE"

const (
	magic       = "confine seccomp program 1\n"
	maxProgram  = 4096 * 8 // BPF_MAXINSNS instructions of 8 bytes
	maxEntries  = 256      // pruned to keepEntries when a store finds more
	keepEntries = 192
)

// Store is a directory of kept programs, written and read as owner, for one binary.
type Store struct {
	dir    string
	owner  int
	binary string // the running binary's identity (binaryID)
}

// Open is the store of this process: nil without root, or when EnvDir says "off".
func Open() *Store {
	dir := os.Getenv(EnvDir)
	switch {
	case os.Geteuid() != 0 || dir == "off":
		return nil
	case dir == "" || !filepath.IsAbs(dir):
		dir = DefaultDir
	}
	id, err := binaryID()
	if err != nil {
		return nil
	}
	return &Store{dir: dir, owner: 0, binary: id}
}

// Program is the program kept under key, or nil: nothing kept, or an entry that is not
// root's own (another owner, writable by others, a symlink, another key's).
func (s *Store) Program(key string) []byte {
	d, err := s.openDir()
	if err != nil {
		return nil
	}
	defer unix.Close(d)
	// A bare descriptor, not an os.File: a regular file gains nothing from the poller,
	// and os.NewFile's try to register it (fcntl, epoll_ctl) is on every start's path.
	fd, err := unix.Openat(d, s.entryName(key), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || !s.owned(&st, 0o022) ||
		st.Size > int64(len(magic)+len(key)+1+maxProgram) {
		return nil
	}
	data := make([]byte, st.Size)
	if !readAt(fd, data) {
		return nil
	}
	head := magic + key + "\n"
	if !bytes.HasPrefix(data, []byte(head)) {
		return nil
	}
	return data[len(head):]
}

// readAt fills data from the start of fd, false on an error or a shorter file.
func readAt(fd int, data []byte) bool {
	for off := 0; off < len(data); {
		n, err := unix.Pread(fd, data[off:], int64(off))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil || n == 0:
			return false
		}
		off += n
	}
	return true
}

// Keep keeps program under key, replacing what was there. It never fails the compile: a
// store that cannot be written only costs the next one a build. Everything after the
// check is done through the directory's descriptor: a parent writable by another user
// could swap the path for a symlink meanwhile.
func (s *Store) Keep(key string, program []byte) {
	if len(program) == 0 || len(program) > maxProgram {
		return
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return
	}
	d, err := s.openDir()
	if err != nil {
		return // a directory that is not root's alone is not written either
	}
	defer unix.Close(d)
	afterOpen()
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := ".new-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(d, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(append([]byte(magic+key+"\n"), program...))
	if cerr := f.Close(); werr != nil || cerr != nil || unix.Renameat(d, tmp, d, s.entryName(key)) != nil {
		unix.Unlinkat(d, tmp, 0)
		return
	}
	prune(d)
}

// afterOpen runs once Keep has checked the directory (a test swaps it there).
var afterOpen = func() {}

// openDir opens the store's directory, refusing one that is a symlink or that anyone
// but its owner may write, list or enter.
func (s *Store) openDir() (int, error) {
	d, err := unix.Open(s.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(d, &st); err != nil || !s.owned(&st, 0o077) {
		unix.Close(d)
		return -1, fmt.Errorf("progcache: %s is not %d's alone", s.dir, s.owner)
	}
	return d, nil
}

// owned: st is the owner's, and none of the bits of others is set.
func (s *Store) owned(st *unix.Stat_t, others uint32) bool {
	return int(st.Uid) == s.owner && st.Mode&others == 0
}

// prune removes the oldest entries of the directory d (a killed start's ".new-" file
// among them) once there are more than maxEntries.
func prune(d int) {
	dup, err := unix.Dup(d)
	if err != nil {
		return
	}
	dir := os.NewFile(uintptr(dup), "store")
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil || len(names) <= maxEntries {
		return
	}
	type aged struct {
		name string
		mod  unix.Timespec
	}
	var all []aged
	for _, n := range names {
		if !entryLike(n) {
			continue // not the store's: EnvDir may name a directory that holds other files
		}
		var st unix.Stat_t
		if unix.Fstatat(d, n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			all = append(all, aged{n, st.Mtim})
		}
	}
	slices.SortFunc(all, func(a, b aged) int {
		return cmp.Or(cmp.Compare(a.mod.Sec, b.mod.Sec), cmp.Compare(a.mod.Nsec, b.mod.Nsec))
	})
	for _, e := range all[:max(0, len(all)-keepEntries)] {
		unix.Unlinkat(d, e.name, 0)
	}
}

// entryLike: name is an entry's (entryName) or a temporary one's (Keep).
func entryLike(name string) bool {
	want := 2 * sha256.Size
	if rest, tmp := strings.CutPrefix(name, ".new-"); tmp {
		name, want = rest, 16
	}
	_, err := hex.DecodeString(name)
	return len(name) == want && err == nil
}

// entryName is key's file: the key and the running binary's identity, hashed.
func (s *Store) entryName(key string) string {
	sum := sha256.Sum256([]byte(s.binary + "\n" + key))
	return hex.EncodeToString(sum[:])
}

// BinaryID is the running binary's identity as the store keys it (binaryID), for the
// other kept things a new confine must not take (cmd/confine's kept Plans).
func BinaryID() (string, error) { return binaryID() }

// binaryID tells this confine binary from any other built or installed since: a
// program another binary kept is not taken, whatever that binary's Build did. A binary
// linked dynamically (go build, go test) builds with the shared libseccomp it mapped,
// whose update within one version (a distribution's fix) Recipe does not see: the
// identity of each file mapped executable is part of it too.
// A static binary (static.go) maps no other file at its start, and confine opens no
// library later: its own identity is all there is, and reading /proc/self/maps (the
// kernel walks every mapping for it) cost about 0.1 ms of a start.
func binaryID() (string, error) {
	if static() {
		return identity("/proc/self/exe", nil)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "", err
	}
	return identity("/proc/self/exe", maps)
}

// identity is exe's, and that of each file maps (a /proc/PID/maps) has mapped executable.
func identity(exe string, maps []byte) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(exe, &st); err != nil {
		return "", err
	}
	id := statID(&st)
	seen := map[string]bool{}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line) // address perms offset dev inode path
		if len(f) < 6 || !strings.Contains(f[1], "x") || !strings.HasPrefix(f[5], "/") || seen[f[5]] {
			continue
		}
		seen[f[5]] = true
		mapped := f[3] + ":" + f[4] // the file mapped, even when its path names another since
		if unix.Stat(f[5], &st) == nil && fmt.Sprint(st.Ino) == f[4] {
			mapped = statID(&st)
		}
		id += " " + f[5] + "=" + mapped
	}
	return id, nil
}

func statID(st *unix.Stat_t) string {
	return fmt.Sprintf("%d:%d:%d:%d.%d:%d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}
