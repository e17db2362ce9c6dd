package sandbox

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
)

// ExecOptions are one confine exec's choices.
type ExecOptions struct {
	Args                  []string
	Stdin, Stdout, Stderr *os.File
	// TTY: the stdio descriptors are a pty's terminal side, which becomes the command's
	// controlling terminal.
	TTY bool
	// Skip names the best_effort mechanisms preflight found missing, as for Launch.
	Skip map[string]bool
	// Forked, when set, is called with the command's pid (the supervisor's view) before
	// the exec stage gets its configuration: nothing of the command runs before it
	// returns (the audit record), and an error stops the exec.
	Forked func(pid int) error
	// Observe receives the calls the command of an audit-mode component makes that its
	// observing filter hands to the supervisor, as Options.Observe does for the component.
	Observe func(observe.Call)
}

// Exec is one command run inside a running component.
type Exec struct {
	cmd *exec.Cmd
	pid int
	// child is the command's process, held by a pidfd (os.FindProcess on Linux): a
	// signal never reaches another process that reused its pid.
	child *os.Process
}

// Exec runs a command inside s, the running sandbox of c: in its namespaces and cgroup,
// as its user with its groups and capabilities, under a Landlock domain and a seccomp
// filter built from c as its own were (a process cannot join another's). The caller
// must stay on a locked OS thread until Wait: the stage's parent-death signal follows
// it. It returns once the command runs, or the step that failed.
func (s *Sandbox) Exec(c *plan.Component, o ExecOptions) (*Exec, error) {
	if len(o.Args) == 0 {
		return nil, errors.New("no command")
	}
	x, pidfd, err := s.execConfig(c, o)
	if err != nil {
		return nil, &StepError{Step: "prepare", Err: err.Error()}
	}
	defer pidfd.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer errR.Close()
	defer errW.Close()
	sock, child, err := seqpacketPair()
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	defer child.Close()
	cmd := exec.Command("/proc/self/exe", ExecArg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	cmd.Env = []string{execMarker} // the command's environment travels in the config
	cmd.ExtraFiles = []*os.File{cfgR, errW, pidfd, child}
	var notifyW *os.File
	if c.Audit != nil {
		// The observing filter passes its listener on fdNotify, as the init stage's does.
		notifyR, w, err := seqpacketPair()
		if err != nil {
			return nil, err
		}
		defer notifyR.Close()
		notifyW = w
		cmd.ExtraFiles = append(cmd.ExtraFiles, nil, notifyR) // fd 7 closed, fdNotify
	}
	// A session of its own: without a tty it has no controlling terminal to push
	// input into (TIOCSTI); with one, the Go stage takes the pty as its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL, Setsid: true}
	if err := cmd.Start(); err != nil {
		if notifyW != nil {
			notifyW.Close()
		}
		return nil, fmt.Errorf("starting the exec stage: %w", err)
	}
	cfgR.Close()
	errW.Close()
	child.Close()
	if notifyW != nil {
		// Served from the start: the command's execve is itself observed. It ends when
		// the stage fails before its seccomp step or the command's last process is gone.
		go serveNotifications(notifyW, o.Observe)
	}
	e := &Exec{cmd: cmd}
	if err := e.handshake(s.Cgroup(), o, x, sock, cfgW, errR); err != nil {
		e.Kill() // a forked child follows (its parent-death signal)
		e.cmd.Wait()
		return nil, err
	}
	return e, nil
}

// handshake takes the started exec stage through the C stage and the Go stage: the
// cgroup first (the fork inherits it), then go, the child's pid back, the record, the
// configuration, and EOF on the error pipe once the command runs.
func (e *Exec) handshake(cg *Cgroup, o ExecOptions, x *execConfig, sock, cfgW, errR *os.File) error {
	if cg != nil {
		if err := cg.Add(e.cmd.Process.Pid); err != nil {
			return &StepError{Step: "cgroups", Err: err.Error()}
		}
	}
	if _, err := sock.Write([]byte{1}); err != nil {
		return execFailure(errR, err)
	}
	var pid [4]byte
	if _, err := io.ReadFull(sock, pid[:]); err != nil {
		return execFailure(errR, fmt.Errorf("the exec stage did not fork: %w", err))
	}
	e.pid = int(binary.NativeEndian.Uint32(pid[:]))
	child, err := os.FindProcess(e.pid) // alive: it waits for its configuration
	if err != nil {
		return err
	}
	e.child = child
	if o.Forked != nil {
		if err := o.Forked(e.pid); err != nil {
			return &StepError{Step: "record", Err: err.Error()}
		}
	}
	if err := json.NewEncoder(cfgW).Encode(x); err != nil {
		return execFailure(errR, fmt.Errorf("sending the plan: %w", err))
	}
	cfgW.Close()
	data, err := io.ReadAll(errR) // EOF without data: exec closed the pipe
	if len(data) > 0 {
		var se StepError
		if json.Unmarshal(data, &se) != nil {
			return fmt.Errorf("exec stage: %s", data)
		}
		return &se
	}
	return err
}

// execFailure is the stage's own report when it sent one, else err.
func execFailure(errR *os.File, err error) error {
	data, _ := io.ReadAll(errR)
	var se StepError
	if len(data) > 0 && json.Unmarshal(data, &se) == nil {
		return &se
	}
	return err
}

// execConfig binds the exec to this very component: a pidfd of its first process, and
// the namespaces and root read through that process while the pidfd shows it alive.
func (s *Sandbox) execConfig(c *plan.Component, o ExecOptions) (*execConfig, *os.File, error) {
	env, err := composeEnv(c.Process)
	if err != nil {
		return nil, nil, err
	}
	if o.TTY && !hasVar(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	pid := s.Pid()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	x := &execConfig{Args: o.Args, Env: env, TTY: o.TTY, Namespaces: map[string]nsID{}}
	x.Init = initConfig{Component: forInit(c, env), Rootless: os.Geteuid() != 0}
	// run.user's names resolved when the component started: the Plan holds 0 for them.
	x.Init.Component.Process.UID, x.Init.Component.Process.GID = s.IDs()
	if o.Skip["cgroups"] {
		x.Init.FallbackRlimits = rlimitFallback(c.Cgroup)
	}
	proc := "/proc/" + strconv.Itoa(pid)
	for _, ns := range execNamespaces {
		if x.Namespaces[ns], err = statID(proc + "/ns/" + ns); err != nil {
			break
		}
	}
	if err == nil {
		x.Root, err = statID(proc + "/root")
	}
	if err == nil {
		x.Groups, err = nsGroups(proc)
	}
	if err == nil {
		err = unix.PidfdSendSignal(fd, 0, nil, 0) // still the process the ids are of
	}
	if err != nil {
		pidfd.Close()
		return nil, nil, err
	}
	return x, pidfd, nil
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// nsGroups are the supplementary groups the component's first process holds now, as ids
// of its user namespace: what it was started with, or fewer, or what it could set itself
// (with CAP_SETGID there). Never the sandbox's /etc/group, which it may have rewritten.
func nsGroups(proc string) ([]int, error) {
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		return nil, err
	}
	maps, err := os.ReadFile(proc + "/gid_map")
	if err != nil {
		return nil, err
	}
	var host []string
	sc := bufio.NewScanner(strings.NewReader(string(status)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Groups:"); ok {
			host = strings.Fields(v)
		}
	}
	groups := []int{}
	for _, h := range host {
		id, err := strconv.ParseUint(h, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s/status: group %q", proc, h)
		}
		ns, ok := mapToNS(string(maps), uint32(id))
		if !ok {
			return nil, fmt.Errorf("group %d is not mapped in the component's user namespace", id)
		}
		groups = append(groups, int(ns))
	}
	return groups, nil
}

// mapToNS turns a host id into the namespace's by a uid_map/gid_map text.
func mapToNS(maps string, host uint32) (uint32, bool) {
	for _, line := range strings.Split(maps, "\n") {
		var ns, base, n uint64
		if c, _ := fmt.Sscan(line, &ns, &base, &n); c == 3 && uint64(host) >= base && uint64(host) < base+n {
			return uint32(ns + uint64(host) - base), true
		}
	}
	return 0, false
}

// Pid is the command's pid in the supervisor's pid namespace.
func (e *Exec) Pid() int { return e.pid }

// Wait waits for the command and returns its exit status, 128+signal when killed.
func (e *Exec) Wait() (int, error) {
	err := e.cmd.Wait()
	e.child.Release()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	ws := e.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// Kill ends the command: the exec stage's death takes it along (its parent-death signal).
func (e *Exec) Kill() {
	e.cmd.Process.Kill()
}

// Signal sends sig to the command (the CLI forwards the signals it gets).
func (e *Exec) Signal(sig os.Signal) error { return e.child.Signal(sig) }
