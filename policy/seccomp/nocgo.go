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

// Build fails without cgo.
func Build(*plan.Seccomp) ([]byte, error) { return nil, ErrNoCgo }

// SyscallName cannot name a syscall without libseccomp.
func SyscallName(nr int) string { return fmt.Sprintf("syscall %d", nr) }
