//go:build !confine_slim

package main

import (
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/confine-sandbox/confine/supervisor"
)

// execTTY runs the exec with a pty made here: its terminal side goes to the command, and
// this process relays between its own stdio and the pty's other side, with its terminal
// in raw mode, so that keys (Ctrl-C too) reach the command's terminal.
func execTTY(c *supervisor.Client, component string, req supervisor.ExecRequest) (supervisor.ExecResult, error) {
	ptm, pts, err := openPty()
	if err != nil {
		return supervisor.ExecResult{}, err
	}
	defer ptm.Close()
	if term.IsTerminal(int(os.Stdin.Fd())) {
		if old, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			defer term.Restore(int(os.Stdin.Fd()), old)
		}
		resize := make(chan os.Signal, 1)
		signal.Notify(resize, unix.SIGWINCH)
		defer signal.Stop(resize)
		go func() {
			for range resize {
				copySize(ptm)
			}
		}()
		copySize(ptm)
	}
	go io.Copy(ptm, os.Stdin)
	copied := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, ptm) // until EIO: the last holder of the terminal side closed it
		close(copied)
	}()
	res, err := c.Exec(component, req, [3]*os.File{pts, pts, pts})
	pts.Close()
	select {
	case <-copied:
	case <-time.After(2 * time.Second): // a background process keeps the terminal open
	}
	return res, err
}

// openPty opens a new pty pair from /dev/ptmx (posix_openpt, unlockpt, ptsname).
func openPty() (ptm, pts *os.File, err error) {
	ptm, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	n, err := unix.IoctlGetUint32(int(ptm.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err == nil {
		pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	}
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	return ptm, pts, nil
}

func copySize(ptm *os.File) {
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(ptm.Fd()), unix.TIOCSWINSZ, ws)
	}
}
