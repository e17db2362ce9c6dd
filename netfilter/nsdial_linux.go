package netfilter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dialer connects from inside a network namespace without a thread per connection: one
// long-lived OS thread stays in the namespace and only creates sockets there (a socket
// keeps the namespace it was made in); connecting and copying then run on ordinary
// goroutines and Go's poller. DialFrom, by contrast, spends a thread per call.
type Dialer struct {
	reqs chan chan socketResult
	done chan struct{}
}

type socketResult struct {
	fd  int
	err error
}

// NewDialer starts the namespace thread for nsPath; Close ends it.
func NewDialer(nsPath string) (*Dialer, error) {
	d := &Dialer{reqs: make(chan chan socketResult), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		back, err := lockThread() // the namespace's until Close, then back (Go's main thread must)
		if err != nil {
			ready <- err
			return
		}
		defer back()
		ns, err := netns.GetFromPath(nsPath)
		if err == nil {
			err = netns.Set(ns)
			ns.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for {
			select {
			case <-d.done:
				return
			case r := <-d.reqs:
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				r <- socketResult{fd, err}
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("dialer in %s: %w", nsPath, err)
	}
	return d, nil
}

// Close ends the namespace thread; connections already made stay.
func (d *Dialer) Close() { close(d.done) }

// DialTCP connects to addr from the namespace, until ctx is done.
func (d *Dialer) DialTCP(ctx context.Context, addr netip.AddrPort) (*net.TCPConn, error) {
	r := make(chan socketResult, 1)
	select {
	case d.reqs <- r:
	case <-d.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := <-r
	if s.err != nil {
		return nil, s.err
	}
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	if err := unix.Connect(s.fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(s.fd)
		return nil, err
	}
	f := os.NewFile(uintptr(s.fd), "tcp:"+addr.String()) // non-blocking: Go's poller owns it
	defer f.Close()
	if dl, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(dl)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	// As Go's net does: done once the socket has a peer or an error; until then, wait
	// for it to become writable. The connect may have finished already (loopback), and
	// then no edge is left to wait for.
	var soErr error
	err = rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soErr = err
		case v != 0 && unix.Errno(v) != unix.EINPROGRESS && unix.Errno(v) != unix.EALREADY && unix.Errno(v) != unix.EINTR:
			soErr = unix.Errno(v)
		default:
			if _, err := unix.Getpeername(int(fd)); err != nil {
				return false // still connecting
			}
		}
		return true
	})
	if err == nil {
		err = soErr
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	c, err := net.FileConn(f) // a dup: f's own descriptor closes on return
	if err != nil {
		return nil, err
	}
	c.(*net.TCPConn).SetWriteDeadline(time.Time{})
	return c.(*net.TCPConn), nil
}
