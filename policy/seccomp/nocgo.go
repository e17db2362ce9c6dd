//go:build !cgo

package seccomp

import (
	"errors"
	"fmt"

	"github.com/confine-sandbox/confine/policy/plan"
)

// ErrNoCgo is returned by every function in a build without cgo: libseccomp is needed
// both to know syscall names and to build programs.
var ErrNoCgo = errors.New("seccomp: confine was built without cgo; libseccomp is unavailable")

// NativeArch fails without cgo.
func NativeArch() (string, error) { return "", ErrNoCgo }

// Known reports false without cgo, so validation fails closed.
func Known(string) bool { return false }

// Recipe is empty without cgo: nothing is built.
func Recipe() string { return "" }

// Build fails without cgo.
func Build(*plan.Seccomp) ([]byte, error) { return nil, ErrNoCgo }

// SyscallName cannot name a syscall without libseccomp.
func SyscallName(nr int) string { return fmt.Sprintf("syscall %d", nr) }

// Notification is one seccomp user notification (notify.go).
type Notification struct {
	ID      uint64
	Pid     int
	Syscall int
	Args    [6]uint64
}

// Receive fails without cgo.
func Receive(int) (*Notification, error) { return nil, ErrNoCgo }

// Continue fails without cgo.
func Continue(int, uint64) error { return ErrNoCgo }

// Valid reports false without cgo.
func Valid(int, uint64) bool { return false }

// Refuse fails without cgo.
func Refuse(int, uint64, int32) error { return ErrNoCgo }
