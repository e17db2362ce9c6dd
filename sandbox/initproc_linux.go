package sandbox

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// initProc is the init stage's process, which becomes the component: exec.Cmd's, or the
// spawner's child (spawner_linux.go).
type initProc interface {
	Pid() int
	Signal(os.Signal) error
	// Wait reaps it, once, and returns how it ended.
	Wait() (syscall.WaitStatus, error)
}

// cmdProc is a started exec.Cmd.
type cmdProc struct{ cmd *exec.Cmd }

func (p cmdProc) Pid() int                   { return p.cmd.Process.Pid }
func (p cmdProc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

func (p cmdProc) Wait() (syscall.WaitStatus, error) {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus), nil
}

// spawnedProc is a child of the spawner. It is the supervisor's own child
// (CLONE_PARENT), so its pid cannot be reused before the supervisor reaps it: Wait
// marks it done, under mu, only between its exit (waitid WNOWAIT) and its reaping, so a
// Signal never reaches a pid reused. Not os.FindProcess: its first call checks the
// kernel's pidfd support with a clone of the whole supervisor (os.checkClonePidfd),
// 1% of a lone run's CPU (docs/BENCHMARKS.md, session 22).
type spawnedProc struct {
	pid   int
	stdio *spawnStdio
	mu    sync.Mutex
	done  bool
}

func (p *spawnedProc) Pid() int { return p.pid }

// Signal sends sig, as os.Process.Signal does: os.ErrProcessDone once reaped.
func (p *spawnedProc) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return errors.New("unsupported signal type")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return os.ErrProcessDone
	}
	return os.NewSyscallError("kill", unix.Kill(p.pid, s))
}

// Wait is exec.Cmd's: the exit status, then the output copies to their end; a copy's
// error only when the process itself succeeded.
func (p *spawnedProc) Wait() (syscall.WaitStatus, error) {
	var info unix.Siginfo
	if err := ignoringEINTR(func() error {
		return unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	}); err != nil {
		return 0, os.NewSyscallError("waitid", err)
	}
	p.mu.Lock()
	p.done = true
	var ws syscall.WaitStatus
	err := ignoringEINTR(func() error {
		_, err := syscall.Wait4(p.pid, &ws, 0, nil)
		return err
	})
	p.mu.Unlock()
	if err != nil {
		return 0, os.NewSyscallError("wait4", err)
	}
	if cerr := p.stdio.wait(); cerr != nil && ws.Exited() && ws.ExitStatus() == 0 {
		return 0, cerr
	}
	return ws, nil
}

// ignoringEINTR calls f until it returns anything but EINTR.
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

// spawnStdio is what exec.Cmd makes of Stdin, Stdout and Stderr, for a spawned child:
// a file as it is, nil as /dev/null, a writer through a pipe copied until EOF (one
// pipe when Stdout and Stderr are the same writer).
type spawnStdio struct {
	child   [3]*os.File
	ours    []*os.File // what the child gets that we made: closed once it has them
	readers []*os.File // the pipes' read ends, until their copies end
	copies  []func() error
	done    chan error
}

// openStdio prepares the child's stdio; false when stdin is a reader but not a file
// (exec.Cmd's copy of it is not done here).
func openStdio(in io.Reader, out, errw io.Writer) (*spawnStdio, bool, error) {
	s := &spawnStdio{}
	switch f, ok := in.(*os.File); {
	case in == nil:
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, true, err
		}
		s.child[0] = null
		s.ours = append(s.ours, null)
	case ok:
		s.child[0] = f
	default:
		return nil, false, nil
	}
	for i, w := range []io.Writer{out, errw} {
		if i == 1 && w != nil && sameWriter(out, errw) {
			s.child[2] = s.child[1]
			continue
		}
		f, err := s.writer(w)
		if err != nil {
			s.abort()
			return nil, true, err
		}
		s.child[1+i] = f
	}
	return s, true, nil
}

// writer is the child's end for w.
func (s *spawnStdio) writer(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	if w == nil {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err == nil {
			s.ours = append(s.ours, null)
		}
		return null, err
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.ours = append(s.ours, pw)
	s.readers = append(s.readers, r)
	s.copies = append(s.copies, func() error {
		_, err := io.Copy(w, r)
		r.Close()
		return err
	})
	return pw, nil
}

// sameWriter is exec.Cmd's test for one pipe: equal, where == does not panic.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() { recover() }()
	return a == b
}

// started closes our copies of the child's ends and runs the output copies.
func (s *spawnStdio) started() {
	closeFiles(s.ours)
	s.done = make(chan error, len(s.copies))
	for _, c := range s.copies {
		go func() { s.done <- c() }()
	}
}

// abort closes everything when no child got the descriptors.
func (s *spawnStdio) abort() {
	closeFiles(s.ours)
	closeFiles(s.readers)
}

// wait waits for the copies and returns the first error.
func (s *spawnStdio) wait() error {
	var first error
	for range s.copies {
		if err := <-s.done; err != nil && first == nil {
			first = err
		}
	}
	return first
}
