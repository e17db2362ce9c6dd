// Package keptdir is a directory of kept files that only its owner may enter: root's
// stores of what a start built before (sandbox/progcache's seccomp programs,
// cmd/confine's plancache's Plans). What a start reads there it runs as its policy's,
// so the directory is taken only when it is no link and its owner's alone (by fstat of
// the descriptor opened), an entry only when it is the owner's regular file that nobody
// else may write, and every step after the check goes through the directory's
// descriptor. An entry is written whole or not at all: to a temporary name, then
// renamed. Entries are named by a SHA-256 in hex; the store's pruning touches nothing
// else the directory holds.
//
// The package imports the standard library and x/sys alone: plancache's init runs it
// early among the binary's, before the YAML library and package policy initialise.
package keptdir

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// tmpPrefix begins the name of an entry being written (Write); one a killed start left
// is pruned as the oldest entries are.
const tmpPrefix = ".new-"

// Dir is a store's directory, entered as Owner, pruned to Limits.
type Dir struct {
	Path  string
	Owner int
	Limits
	// AfterOpen, when set, runs once Write has checked the directory: a test swaps it
	// for a symlink there.
	AfterOpen func()
}

// Limits bound a store: once a write finds more than MaxEntries entries, or more than
// MaxBytes in them together (0: no bound on bytes), the oldest go until KeepEntries
// are left and, with MaxBytes, half of MaxBytes.
type Limits struct {
	MaxEntries, KeepEntries int
	MaxBytes                int64
}

// Read is the entry named name, or nil: none, larger than max bytes, not a regular
// file (a symlink), another user's or writable by others, or in a directory that is
// not the owner's alone.
func (d *Dir) Read(name string, max int64) []byte {
	dfd, err := d.open()
	if err != nil {
		return nil
	}
	defer unix.Close(dfd)
	// A bare descriptor, not an os.File: a regular file gains nothing from the poller,
	// and os.NewFile's try to register it (fcntl, epoll_ctl) is on every start's path.
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || !d.owned(&st, 0o022) || st.Size > max {
		return nil
	}
	data := make([]byte, st.Size)
	if !readAt(fd, data) {
		return nil
	}
	return data
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

// Write replaces the entry named name with data, making the directory (0700) when it
// is not there, and prunes the store. It reports nothing: a store that cannot be
// written only costs the next start the work again. After the check every step goes
// through the directory's descriptor: a parent others may write could swap the path
// for a symlink meanwhile.
func (d *Dir) Write(name string, data []byte) {
	if os.MkdirAll(d.Path, 0o700) != nil {
		return
	}
	dfd, err := d.open()
	if err != nil {
		return // a directory that is not the owner's alone is not written either
	}
	defer unix.Close(dfd)
	if d.AfterOpen != nil {
		d.AfterOpen()
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := tmpPrefix + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data)
	if cerr := f.Close(); werr != nil || cerr != nil || unix.Renameat(dfd, tmp, dfd, name) != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return
	}
	prune(dfd, d.Limits)
}

// open opens the directory, refusing a symlink and one anybody but the owner may
// write, list or enter.
func (d *Dir) open() (int, error) {
	fd, err := unix.Open(d.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || !d.owned(&st, 0o077) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s is not %d's alone", d.Path, d.Owner)
	}
	return fd, nil
}

// owned: st is the owner's, and none of the bits of others is set.
func (d *Dir) owned(st *unix.Stat_t, others uint32) bool {
	return int(st.Uid) == d.Owner && st.Mode&others == 0
}

// prune removes the oldest entries of the directory dfd (a killed start's temporary
// among them) once they are more, or larger, than l allows.
func prune(dfd int, l Limits) {
	dup, err := unix.Dup(dfd)
	if err != nil {
		return
	}
	dir := os.NewFile(uintptr(dup), "store")
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil || l.MaxBytes == 0 && len(names) <= l.MaxEntries {
		return // no more names than entries allowed: none need a stat
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
			continue // not the store's: its variable (tests) may name a directory holding others
		}
		var st unix.Stat_t
		if unix.Fstatat(dfd, n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			all = append(all, aged{n, st.Size, st.Mtim})
			total += st.Size
		}
	}
	larger := func(bound int64) bool { return l.MaxBytes != 0 && total > bound }
	if len(all) <= l.MaxEntries && !larger(l.MaxBytes) {
		return
	}
	slices.SortFunc(all, func(a, b aged) int {
		return cmp.Or(cmp.Compare(a.mod.Sec, b.mod.Sec), cmp.Compare(a.mod.Nsec, b.mod.Nsec))
	})
	left := len(all)
	for _, e := range all {
		if left <= l.KeepEntries && !larger(l.MaxBytes/2) {
			break
		}
		unix.Unlinkat(dfd, e.name, 0)
		left, total = left-1, total-e.size
	}
}

// entryLike: name is an entry's (a SHA-256 in hex) or a temporary one's (Write).
func entryLike(name string) bool {
	want := 2 * sha256.Size
	if rest, tmp := strings.CutPrefix(name, tmpPrefix); tmp {
		name, want = rest, 16
	}
	_, err := hex.DecodeString(name)
	return len(name) == want && err == nil
}
