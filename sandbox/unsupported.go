//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/confine-sandbox/confine/policy/plan"
)

// ErrUnsupported: confine enforces with Linux kernel mechanisms only.
var ErrUnsupported = errors.New("confine run needs Linux")

// Options are the runtime choices of one run.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Stack          string
	skipFirewall   bool
}

// Sandbox is never started outside Linux.
type Sandbox struct{}

// Start fails closed outside Linux.
func Start(context.Context, *plan.Component, Options) (*Sandbox, error) { return nil, ErrUnsupported }

// Init is never reached outside Linux.
func Init() { os.Exit(2) }

func (*Sandbox) Pid() int               { return 0 }
func (*Sandbox) NetNS() string          { return "" }
func (*Sandbox) Go() error              { return ErrUnsupported }
func (*Sandbox) Wait() (int, error)     { return 0, ErrUnsupported }
func (*Sandbox) Signal(os.Signal) error { return ErrUnsupported }
func (*Sandbox) Kill()                  {}
func (*Sandbox) IDs() (uint32, uint32)  { return 0, 0 }
func (*Sandbox) OOMKilled() bool        { return false }

// Launch fails closed outside Linux.
func Launch(context.Context, *plan.Component, Options, map[string]bool) (*Sandbox, error) {
	return nil, ErrUnsupported
}

// AuditReader is never listening outside Linux.
type AuditReader struct{}

// ListenKernelAudit fails closed outside Linux.
func ListenKernelAudit() (*AuditReader, error) { return nil, ErrUnsupported }

// OpenKernelAudit fails closed outside Linux.
func OpenKernelAudit() (*AuditReader, func() error, error) { return nil, nil, ErrUnsupported }

// EnableKernelAudit fails closed outside Linux.
func EnableKernelAudit() (func() error, error) { return nil, ErrUnsupported }

func (*AuditReader) Next() (KernelDenial, error) { return KernelDenial{}, ErrUnsupported }
func (*AuditReader) Close() error                { return nil }
func (*AuditReader) Lost() (AuditLoss, error)    { return AuditLoss{}, ErrUnsupported }

// SweepKernelAudit has nothing to sweep outside Linux.
func SweepKernelAudit() error { return nil }
