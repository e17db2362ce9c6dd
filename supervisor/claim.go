package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ClaimPath is the lock file of stack name, beside its state directory (which cleanups
// remove whole): whoever brings the stack up holds it for the supervisor's life, so that
// exactly one of two `up`s of one stack wins, at once, and the other touches nothing.
// The lock is the stack's own, never host-wide.
func ClaimPath(name string) string { return filepath.Join(StateRoot, name+".lock") }

// AlreadyUpError is returned when another process holds the stack's claim.
type AlreadyUpError struct {
	Name string
	Pid  int // the supervisor's, or 0 while it is still starting
}

func (e *AlreadyUpError) Error() string {
	if e.Pid == 0 {
		return fmt.Sprintf("stack %s is already up (its supervisor is starting); confine down %s first", e.Name, e.Name)
	}
	return fmt.Sprintf("stack %s is already up (supervisor pid %d); confine down %s first", e.Name, e.Pid, e.Name)
}

// Claim is a held claim of one stack.
type Claim struct {
	name string
	f    *os.File
}

// TakeClaim locks ClaimPath(name) without waiting: an *AlreadyUpError when it is held.
// A lock left by a supervisor that died was released by the kernel with it.
func TakeClaim(name string) (*Claim, error) {
	if err := os.MkdirAll(StateRoot, 0o700); err != nil {
		return nil, err
	}
	path := ClaimPath(name)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				pid, alive := Running(name)
				if !alive {
					pid = 0
				}
				return nil, &AlreadyUpError{Name: name, Pid: pid}
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		// The holder before unlinks the file before it unlocks (Release): a lock on
		// a file no longer at path claims nothing, so open it again.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return &Claim{name: name, f: f}, nil
		}
		f.Close()
	}
}

// InheritClaim is the claim an `up -d` took and passed to its supervisor as f.
func InheritClaim(name string, f *os.File) *Claim { return &Claim{name: name, f: f} }

// File is the claim's descriptor, to pass to the supervisor (exec.Cmd.ExtraFiles): the
// lock belongs to the open file, so the child holds it on after this process closes it.
func (c *Claim) File() *os.File { return c.f }

// Close lets go of this process's descriptor only.
func (c *Claim) Close() { c.f.Close() }

// Release ends the claim: the file goes first, then the lock.
func (c *Claim) Release() {
	os.Remove(ClaimPath(c.name))
	c.f.Close()
}
