package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// shadow's lock tries, as commonio_lock does (lib/commonio.c: LOCK_TRIES 15 times,
// LOCK_SLEEP 1 s apart); variables for the unit tests.
var (
	shadowLockTries = 15
	shadowLockSleep = time.Second
)

// lockShadowFile takes the lock shadow's tools (useradd, usermod --add-subuids,
// newusers) take before they rewrite /etc/subuid or /etc/subgid: PATH.lock, made by
// link(2) of a file PATH.PID holding the holder's pid, so that exactly one link wins.
// A lock whose pid no longer runs is stale: it is removed and taken. A lock held by a
// live process is tried again shadowLockTries times, then given up with its holder
// named. The unlock removes PATH.lock.
func lockShadowFile(path string) (unlock func(), err error) {
	lock := path + ".lock"
	for try := 0; try < shadowLockTries; try++ {
		if try > 0 {
			time.Sleep(shadowLockSleep)
		}
		held, err := tryShadowLock(path, lock)
		if err != nil {
			return nil, err
		}
		if held == 0 {
			return func() { os.Remove(lock) }, nil
		}
		if try == shadowLockTries-1 {
			return nil, fmt.Errorf("id ranges: %s is held by pid %d (useradd or another shadow tool); try again once it is done", lock, held)
		}
	}
	return nil, fmt.Errorf("id ranges: %s: no tries", lock) // shadowLockTries < 1
}

// tryShadowLock is one try, commonio's do_lock_file: 0 when the lock is taken, the
// holder's pid when a live process holds it.
func tryShadowLock(path, lock string) (holder int, err error) {
	pid := os.Getpid()
	tmp := path + "." + strconv.Itoa(pid)
	// shadow writes the pid with its terminating NUL; its readers take either form.
	if err := os.WriteFile(tmp, append([]byte(strconv.Itoa(pid)), 0), 0o600); err != nil {
		return 0, fmt.Errorf("id ranges: locking %s: %w", path, err)
	}
	defer os.Remove(tmp)
	if err := linkOnce(tmp, lock); err == nil {
		return 0, nil
	} else if !errors.Is(err, os.ErrExist) {
		return 0, fmt.Errorf("id ranges: locking %s: %w", path, err)
	}
	held, err := lockHolder(lock)
	if err != nil {
		return 0, err
	}
	if alive(held) {
		return held, nil
	}
	// Stale: its holder died holding it. Remove it and link once more; a racer that
	// did the same first wins, and this try sees the lock held.
	if err := os.Remove(lock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("id ranges: removing the stale %s (pid %d is gone): %w", lock, held, err)
	}
	if err := linkOnce(tmp, lock); errors.Is(err, os.ErrExist) {
		return lockHolder(lock)
	} else if err != nil {
		return 0, fmt.Errorf("id ranges: locking %s: %w", path, err)
	}
	return 0, nil
}

// linkOnce links tmp to lock and checks, as commonio's check_link_count does, that the
// link really is ours (tmp has two names): on NFS a link may succeed twice.
func linkOnce(tmp, lock string) error {
	if err := os.Link(tmp, lock); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(tmp, &st); err != nil || st.Nlink != 2 {
		return fmt.Errorf("%s: link count %d after link(2), want 2 (a filesystem whose link(2) cannot be trusted)", lock, st.Nlink)
	}
	return nil
}

// lockHolder reads the pid in a lock file; a lock without one is not confine's to break.
func lockHolder(lock string) (int, error) {
	data, err := os.ReadFile(lock)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("id ranges: %s went away while it was read; try again", lock)
	}
	if err != nil {
		return 0, fmt.Errorf("id ranges: %w", err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimRight(data, "\x00"))))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("id ranges: %s holds no pid (%q); if no shadow tool runs, remove it", lock, data)
	}
	return pid, nil
}

// alive reports whether pid runs: kill(pid, 0) succeeds, or is refused (another user's).
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// rewriteFile replaces path's content atomically: a temporary file beside it (PATH+, the
// name shadow's tools write under the same lock) with path's mode and owner, synced,
// then renamed over it, so a reader sees the old file or the new, never a part.
func rewriteFile(path string, data []byte) error {
	mode, uid, gid := os.FileMode(0o644), 0, 0
	if fi, err := os.Stat(path); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		mode, uid, gid = fi.Mode().Perm(), int(st.Uid), int(st.Gid)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp := path + "+"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	err = writeSynced(f, data, mode, uid, gid)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func writeSynced(f *os.File, data []byte, mode os.FileMode, uid, gid int) error {
	if err := f.Chown(uid, gid); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}
