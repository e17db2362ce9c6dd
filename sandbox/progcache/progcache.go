// Package progcache keeps the seccomp programs confine's start commands built, so that a
// start of a policy built before does not pay libseccomp again (policy.ProgramStore). The
// programs are loaded into the kernel as a component's filter, so the store is root's
// alone: a directory only root can write (/var/cache/confine/seccomp), entries only root
// wrote, each holding the key it was kept under, and named after that key and the
// running binary, so that a new confine builds anew.
package progcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/keptdir"
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
	head := magic + key + "\n"
	data := s.kept().Read(s.entryName(key), int64(len(head)+maxProgram))
	if !bytes.HasPrefix(data, []byte(head)) {
		return nil
	}
	return data[len(head):]
}

// Keep keeps program under key, replacing what was there. It never fails the compile: a
// store that cannot be written only costs the next one a build.
func (s *Store) Keep(key string, program []byte) {
	if len(program) == 0 || len(program) > maxProgram {
		return
	}
	s.kept().Write(s.entryName(key), append([]byte(magic+key+"\n"), program...))
}

// afterOpen runs once Keep has checked the directory (a test swaps it there).
var afterOpen = func() {}

// kept is the store's directory, root's alone (internal/keptdir).
func (s *Store) kept() *keptdir.Dir {
	return &keptdir.Dir{Path: s.dir, Owner: s.owner, AfterOpen: afterOpen,
		Limits: keptdir.Limits{MaxEntries: maxEntries, KeepEntries: keepEntries}}
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
