package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// ErrRootless is returned when confine runs without root: mapping the component's user
// and the init stage's root needs two ids, and only newuidmap could grant an unprivileged
// user more than one.
var ErrRootless = errors.New("confine run needs root for now: an unprivileged user can map only one id into the user namespace")

// Options are the runtime choices of one run.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY keeps the caller's controlling terminal; without it the component starts in
	// a new session and cannot push input into the terminal (TIOCSTI).
	TTY bool
}

// Sandbox is one started component: its init stage is waiting for Go.
type Sandbox struct {
	cmd     *exec.Cmd
	root    string
	errPipe *os.File
	goPipe  *os.File
	cgroup  *Cgroup
	waited  bool
}

// Start re-executes confine as the init stage in new namespaces, hands it the
// component's Plan and leaves it waiting before seccomp and exec, so that the caller can
// put the network and cgroup in place (Pid, NetNS) and then call Go. The calling
// goroutine must stay on a locked OS thread until Wait: the parent-death signal follows
// the thread that started the child.
func Start(ctx context.Context, c *plan.Component, opts Options) (_ *Sandbox, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrRootless
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "confine-root-")
	if err != nil {
		return nil, err
	}
	s := &Sandbox{root: root}
	defer func() {
		if err != nil {
			s.Kill()
		}
	}()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return s, err
	}
	defer cfgR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return s, err
	}
	defer errW.Close()
	s.errPipe = errR
	goR, goW, err := os.Pipe()
	if err != nil {
		return s, err
	}
	defer goR.Close()
	s.goPipe = goW

	cmd := exec.CommandContext(ctx, self, InitArg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	cmd.Env = []string{} // the init stage reads the Plan, not the environment
	cmd.ExtraFiles = []*os.File{cfgR, errW, goR}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
			unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
		UidMappings:                idMaps(c.UIDMap),
		GidMappings:                idMaps(c.GIDMap),
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  unix.SIGKILL,
		Setsid:                     !opts.TTY,
	}
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		return s, fmt.Errorf("starting the init stage: %w", err)
	}
	if err := json.NewEncoder(cfgW).Encode(initConfig{Component: *c, Root: root}); err != nil {
		cfgW.Close()
		return s, fmt.Errorf("sending the plan: %w", err)
	}
	cfgW.Close()
	return s, nil
}

// idMaps maps ns-root to host root, for the init stage's mounts, and each Plan id to the
// same host id, so declared write paths keep their owners.
func idMaps(m []plan.IDMap) []syscall.SysProcIDMap {
	out := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	for _, e := range m {
		if e.ContainerID != 0 {
			out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.ContainerID), Size: int(e.Size)})
		}
	}
	return out
}

// Pid is the init stage's process id in the caller's pid namespace.
func (s *Sandbox) Pid() int { return s.cmd.Process.Pid }

// NetNS is the path of the sandbox's network namespace.
func (s *Sandbox) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", s.Pid()) }

// Go lets the init stage finish: Landlock is in place, seccomp and exec follow. It
// returns the init stage's StepError if a step failed, or nil once the component runs.
func (s *Sandbox) Go() error {
	_, werr := s.goPipe.Write([]byte{1})
	s.goPipe.Close()
	data, err := io.ReadAll(s.errPipe) // EOF without data: exec closed the pipe
	s.errPipe.Close()
	switch {
	case len(data) > 0:
		var se StepError
		if json.Unmarshal(data, &se) != nil {
			return fmt.Errorf("init stage: %s", data)
		}
		return &se
	case err != nil:
		return err
	case werr != nil:
		return fmt.Errorf("init stage ended before the go signal: %w", werr)
	}
	return nil
}

// Wait waits for the component and returns its exit status, 128+signal when killed.
func (s *Sandbox) Wait() (int, error) {
	s.waited = true
	err := s.cmd.Wait()
	s.release()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	ws := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// Signal sends sig to the init stage, which is the component once exec has happened.
func (s *Sandbox) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Kill ends the sandbox and removes what Start made. Killing pid 1 of the sandbox's pid
// namespace ends every process in it; the namespaces and mounts go with the last one.
func (s *Sandbox) Kill() {
	if s.cmd != nil && s.cmd.Process != nil && !s.waited {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.waited = true
	}
	for _, f := range []*os.File{s.errPipe, s.goPipe} {
		if f != nil {
			f.Close()
		}
	}
	s.release()
}

// release removes what outlives the sandbox's processes: the cgroup and the empty
// directory the root was built on.
func (s *Sandbox) release() {
	if s.cgroup != nil {
		s.cgroup.Delete()
		s.cgroup = nil
	}
	os.Remove(s.root)
}
