package plancache

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	maxEntry    = 4 << 20  // bytes in one entry; a larger Plan is compiled on every start
	maxEntries  = 128      // pruned to keepEntries once a keep finds more,
	keepEntries = 96       //
	maxBytes    = 64 << 20 // or finds them larger together than this
)

// store is a directory of entries only owner may enter, as sandbox/progcache's: entries
// are written to a temporary name and renamed, read only when they are owner's regular
// files that nobody else may write, and named by their key (hex), which each also holds.
type store struct {
	dir   string
	owner int
}

// read is the entry named name, or nil.
func (s *store) read(name string) []byte {
	d, err := s.openDir()
	if err != nil {
		return nil
	}
	defer unix.Close(d)
	fd, err := unix.Openat(d, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || !s.owned(&st, 0o022) || st.Size > maxEntry {
		return nil
	}
	data := make([]byte, st.Size)
	for off := 0; off < len(data); {
		n, err := unix.Pread(fd, data[off:], int64(off))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil || n == 0:
			return nil
		}
		off += n
	}
	return data
}

// write replaces the entry named name with data. A store that cannot be written only
// costs the next start a compile. After the check every step goes through the
// directory's descriptor: a parent others may write could swap the path meanwhile.
func (s *store) write(name string, data []byte) {
	if len(data) > maxEntry || os.MkdirAll(s.dir, 0o700) != nil {
		return
	}
	d, err := s.openDir()
	if err != nil {
		return
	}
	defer unix.Close(d)
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := ".new-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(d, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data)
	if cerr := f.Close(); werr != nil || cerr != nil || unix.Renameat(d, tmp, d, name) != nil {
		unix.Unlinkat(d, tmp, 0)
		return
	}
	prune(d)
}

// openDir opens the directory, refusing a symlink and one anybody but owner may enter.
func (s *store) openDir() (int, error) {
	d, err := unix.Open(s.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(d, &st); err != nil || !s.owned(&st, 0o077) {
		unix.Close(d)
		return -1, fmt.Errorf("plancache: %s is not %d's alone", s.dir, s.owner)
	}
	return d, nil
}

// owned: st is owner's, and none of the bits others has set.
func (s *store) owned(st *unix.Stat_t, others uint32) bool {
	return int(st.Uid) == s.owner && st.Mode&others == 0
}

// prune removes the oldest entries of the directory d (a killed start's ".new-" file
// among them) once there are more than maxEntries or they hold more than maxBytes.
func prune(d int) {
	dup, err := unix.Dup(d)
	if err != nil {
		return
	}
	dir := os.NewFile(uintptr(dup), "plans")
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return
	}
	type aged struct {
		name string
		size int64
		mod  unix.Timespec
	}
	var all []aged
	var total int64
	for _, n := range names {
		if !entryLike(n) {
			continue // not the store's: EnvDir may name a directory that holds other files
		}
		var st unix.Stat_t
		if unix.Fstatat(d, n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			all = append(all, aged{n, st.Size, st.Mtim})
			total += st.Size
		}
	}
	if len(all) <= maxEntries && total <= maxBytes {
		return
	}
	slices.SortFunc(all, func(a, b aged) int {
		return cmp.Or(cmp.Compare(a.mod.Sec, b.mod.Sec), cmp.Compare(a.mod.Nsec, b.mod.Nsec))
	})
	left := len(all)
	for _, e := range all {
		if left <= keepEntries && total <= maxBytes/2 {
			break
		}
		unix.Unlinkat(d, e.name, 0)
		left, total = left-1, total-e.size
	}
}

// entryLike: name is an entry's (a key) or a temporary one's (write).
func entryLike(name string) bool {
	want := 64
	if rest, tmp := strings.CutPrefix(name, ".new-"); tmp {
		name, want = rest, 16
	}
	_, err := hex.DecodeString(name)
	return len(name) == want && err == nil
}
