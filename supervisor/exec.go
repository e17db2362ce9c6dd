package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
)

// confine exec: the CLI asks over the API socket, the supervisor (which holds the Plan,
// the cgroup and the audit log) spawns the command through sandbox.Exec. The request is
// a JSON ExecRequest; the answer "101 Switching Protocols" turns the connection into a
// plain unix socket, over which the CLI passes its three stdio descriptors (SCM_RIGHTS)
// and then reads one ExecResult line. The CLI closing the connection kills the command.

// EventExec is one `confine exec`, with details.command its argv; details.refused is set
// when the policy refused it. EventExecExit is its end, with its exit status.
const (
	EventExec     = "component.exec"
	EventExecExit = "component.exec_exit"
)

// ExecRequest is the body of POST /v1/components/{name}/exec.
type ExecRequest struct {
	Command []string `json:"command"`
	TTY     bool     `json:"tty,omitempty"`
}

// ExecResult is the line the supervisor answers once the command has ended, or failed to
// start (Error, Step).
type ExecResult struct {
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	Step     string `json:"step,omitempty"`
}

// ExecStatus is one running exec, as ps lists it under its component.
type ExecStatus struct {
	Pid       int       `json:"pid"`
	Command   []string  `json:"command"`
	TTY       bool      `json:"tty,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// ForwardedSignals are those the CLI passes on to the command; any other byte is ignored.
var ForwardedSignals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Bounds on what a request may carry: argv is one process's.
const (
	maxExecArgs  = 4096
	maxExecBytes = 1 << 20
)

func (s *Supervisor) serveExec(w http.ResponseWriter, r *http.Request, c *component) {
	var req ExecRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxExecBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Command) == 0 || len(req.Command) > maxExecArgs {
		writeError(w, http.StatusBadRequest, fmt.Errorf("expected {\"command\": [ARG…], \"tty\": BOOL} with 1 to %d arguments (%v)", maxExecArgs, err))
		return
	}
	for _, a := range req.Command {
		if strings.IndexByte(a, 0) >= 0 {
			writeError(w, http.StatusBadRequest, errors.New("an argument holds a NUL byte"))
			return
		}
	}
	if c.plan.Process.DenyExec {
		c.sup.events.emit(c.plan.Name, EventExec, map[string]any{"command": req.Command, "tty": req.TTY, "refused": true, "reason": "run.exec: false"})
		writeError(w, http.StatusForbidden, fmt.Errorf("the policy of %s refuses confine exec (run.exec: false, %s)", c.plan.Name, c.plan.Source))
		return
	}
	c.mu.Lock()
	sb, state := c.sb, c.status.State
	c.mu.Unlock()
	if sb == nil || state != StateRunning {
		writeError(w, http.StatusConflict, fmt.Errorf("%s is %s; confine exec needs it running", c.plan.Name, state))
		return
	}
	conn, stdio, err := takeStdio(w)
	if err != nil {
		if conn == nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		answerExec(conn, ExecResult{Error: err.Error(), Step: "stdio"})
		return
	}
	defer conn.Close()
	answerExec(conn, c.runExec(sb, req, stdio, conn))
}

// runExec starts the command and waits for it, on a locked OS thread: the exec stage's
// parent-death signal follows the thread that started it.
func (c *component) runExec(sb *sandbox.Sandbox, req ExecRequest, stdio []*os.File, conn net.Conn) ExecResult {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	recorded := false
	started := func(pid int) error {
		// Written (and synced) before the command's first instruction.
		recorded = true
		c.sup.events.emit(c.plan.Name, EventExec, map[string]any{"command": req.Command, "tty": req.TTY, "pid": pid})
		return nil
	}
	e, err := sb.Exec(c.plan, sandbox.ExecOptions{Args: req.Command, Stdin: stdio[0], Stdout: stdio[1], Stderr: stdio[2], TTY: req.TTY, Skip: c.sup.skip, Forked: started, Observe: c.observer()})
	for _, f := range stdio {
		f.Close()
	}
	if err != nil {
		var se *sandbox.StepError
		res := ExecResult{Error: err.Error()}
		if errors.As(err, &se) {
			res = ExecResult{Error: se.Err, Step: se.Step}
		}
		// An exec that failed once forked is recorded already: this says how it ended.
		kind := EventExec
		if recorded {
			kind = EventExecExit
		}
		c.sup.events.emit(c.plan.Name, kind, map[string]any{"command": req.Command, "tty": req.TTY, "error": res.Error, "step": res.Step})
		return res
	}
	st := ExecStatus{Pid: e.Pid(), Command: req.Command, TTY: req.TTY, StartedAt: time.Now().UTC()}
	c.mu.Lock()
	c.execs = append(c.execs, st)
	c.mu.Unlock()
	go func() {
		// The CLI sends one byte per signal it got, to forward; the read fails when it
		// goes away (or after answerExec), and then the command is killed.
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				e.Kill()
				return
			}
			if sig := syscall.Signal(b[0]); slices.Contains(ForwardedSignals, sig) {
				e.Signal(sig)
			}
		}
	}()
	code, err := e.Wait()
	c.mu.Lock()
	c.execs = slices.DeleteFunc(c.execs, func(x ExecStatus) bool { return x.Pid == st.Pid })
	c.mu.Unlock()
	details := map[string]any{"command": req.Command, "pid": e.Pid(), "exit_code": code}
	c.sup.events.emit(c.plan.Name, EventExecExit, details)
	if err != nil {
		return ExecResult{Error: err.Error(), Step: "wait"}
	}
	return ExecResult{ExitCode: code}
}

// takeStdio hijacks the connection, answers 101 and receives the CLI's three stdio
// descriptors. The CLI sends them only after reading the 101, so nothing of them is in
// the server's read buffer.
func takeStdio(w http.ResponseWriter) (net.Conn, []*os.File, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{}) // the server's header timeout would end a long exec
	uc, ok := conn.(*net.UnixConn)
	if !ok || rw.Reader.Buffered() > 0 {
		return conn, nil, errors.New("expected the stdio descriptors after the 101 answer")
	}
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: confine-exec\r\n\r\n")
	if err := rw.Flush(); err != nil {
		return conn, nil, err
	}
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer uc.SetReadDeadline(time.Time{})
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(3*4))
	_, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return conn, nil, fmt.Errorf("receiving stdio: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		fds, _ = unix.ParseUnixRights(&msgs[0])
	}
	if len(fds) != 3 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return conn, nil, fmt.Errorf("expected 3 stdio descriptors, received %d", len(fds))
	}
	files := make([]*os.File, 3)
	for i, fd := range fds {
		unix.CloseOnExec(fd)
		files[i] = os.NewFile(uintptr(fd), "stdio")
	}
	return conn, files, nil
}

func answerExec(conn net.Conn, res ExecResult) {
	data, _ := json.Marshal(res)
	conn.Write(append(data, '\n'))
}

// Exec runs argv inside component over the stack's socket with stdio as the command's
// standard input, output and error (a pty's terminal side three times, with tty) and
// returns its result. A refusal (run.exec: false) or a component that is not running is
// an *ExecRefused.
func (c *Client) Exec(component string, req ExecRequest, stdio [3]*os.File) (ExecResult, error) {
	conn, err := net.Dial("unix", SocketPath(c.Stack))
	if err != nil {
		return ExecResult{}, fmt.Errorf("%w: %s (%v)", ErrNotRunning, c.Stack, err)
	}
	defer conn.Close()
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequest("POST", "http://confine/v1/components/"+component+"/exec", strings.NewReader(string(body)))
	hreq.Header.Set("Content-Type", "application/json")
	if err := hreq.Write(conn); err != nil {
		return ExecResult{}, err
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, hreq)
	if err != nil {
		return ExecResult{}, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return ExecResult{}, &ExecRefused{Status: resp.StatusCode, Msg: e.Error}
	}
	fds := unix.UnixRights(int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd()))
	if _, _, err := conn.(*net.UnixConn).WriteMsgUnix([]byte{0}, fds, nil); err != nil {
		return ExecResult{}, fmt.Errorf("passing stdio: %w", err)
	}
	sigs := make(chan os.Signal, 8)
	for _, s := range ForwardedSignals {
		signal.Notify(sigs, s)
	}
	defer func() {
		signal.Stop(sigs)
		close(sigs)
	}()
	go func() {
		for s := range sigs {
			conn.Write([]byte{byte(s.(syscall.Signal))})
		}
	}()
	var res ExecResult
	if err := json.NewDecoder(rd).Decode(&res); err != nil {
		return ExecResult{}, fmt.Errorf("the supervisor did not report the command's end: %w", err)
	}
	return res, nil
}

// ExecRefused is an exec the supervisor did not start: refused by the policy
// (Status 403), or for a component that is not running or unknown.
type ExecRefused struct {
	Status int
	Msg    string
}

func (e *ExecRefused) Error() string { return e.Msg }
