//go:build !confine_slim

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/cmd/confine/internal/compileahead"
	"github.com/confine-sandbox/confine/host"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
)

// detachedFlag marks the re-executed supervisor of `up -d`; fd 3 is where it says it is
// up, fd 4 the stack's claim, which `up -d` took.
const detachedFlag = "supervise-detached"

// upOptions are the flags of `up`.
type upOptions struct {
	detach, detached bool
	grace, wait      time.Duration
	auditLog         string
}

func newUp() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up STACK",
		Short: "Bring a stack up and supervise it (in the foreground, or -d in the background)",
		Long: `up compiles STACK (a stack file, or one component's file), checks the kernel (see
preflight), removes what a killed supervisor of the same stack left, and brings the stack
up: a bridge in a network namespace of its own with the stack firewall, a veth and address
per component, published ports on the host's loopback, then the components in the order
their flows and depends_on imply, each after what it calls is running and healthy.

up is done once every component runs, each with a health check is healthy, and each
published port reaches its component; --wait bounds all of it. A stack that does not come
up in time, or an up interrupted by SIGINT or SIGTERM, is taken down and up exits 2. A
stack that is already up is left as it is, and up exits 1. Several stacks may be up at
once, and start and stop in any order.

In the foreground it prints every component's output prefixed with its name, and takes
the stack down on SIGINT or SIGTERM. With -d it returns once the stack is up; use ps,
logs, stop, start, restart, pause, unpause, events and down. The API is a unix socket at
/run/confine/stacks/NAME/api.sock (docs/api.openapi.yaml). Needs root.

Every event (the policy and enforcement applied, starts, exits, restarts, and each
seccomp, Landlock and firewall denial with what decided it) goes to the hash-chained audit
log, /var/log/confine/NAME/audit.log unless --audit-log says otherwise (docs/audit.md).
Reading the kernel's denials turns the kernel's audit on while stacks run
(docs/kernel-audit.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			deadline := time.Now().Add(o.wait)
			p, err := compilePolicyWith(args[0], &storeResolver{pull: true, progress: cmd.ErrOrStderr()}, compileahead.Programs())
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return &codeError{code: exitEnforcement, msg: "confine: up needs root: a stack's network namespace, bridge and cgroups are made by root"}
			}
			findings, err := sandbox.Preflight(p, host.Probe())
			if err != nil {
				return &codeError{code: exitEnforcement, msg: "confine: enforcement cannot be set up:\n" + err.Error()}
			}
			skip := map[string]bool{}
			for _, f := range findings {
				fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: %s\n", f)
				skip[f.Mechanism] = true
			}
			if o.detach {
				return upDetached(cmd, args[0], p.Name, deadline, o)
			}
			return supervise(cmd, p, skip, time.Until(deadline), o)
		},
	}
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "run the supervisor in the background")
	cmd.Flags().BoolVar(&o.detached, detachedFlag, false, "")
	cmd.Flags().MarkHidden(detachedFlag)
	cmd.Flags().DurationVar(&o.grace, "grace", supervisor.DefaultGrace, "on SIGINT/SIGTERM, how long components have between SIGTERM and SIGKILL")
	cmd.Flags().StringVar(&o.auditLog, "audit-log", "", "the audit log (default /var/log/confine/NAME/audit.log)")
	cmd.Flags().DurationVar(&o.wait, "wait", time.Minute, "how long up may take: every component running and healthy, every published port forwarding")
	return cmd
}

// supervise brings the stack up and runs it until SIGINT, SIGTERM or `confine down`: in
// the foreground, or as the re-executed supervisor of `up -d`.
func supervise(cmd *cobra.Command, p *plan.Plan, skip map[string]bool, wait time.Duration, o upOptions) error {
	var echoMu sync.Mutex
	if o.auditLog == "" {
		o.auditLog = defaultAuditLog(p.Name)
	}
	opts := supervisor.Options{Skip: skip, StartTimeout: wait, AuditLog: o.auditLog,
		Warn: func(msg string) { fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: %s\n", msg) }}
	store, err := planStore(p)
	if err != nil {
		return &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
	}
	opts.Store = store
	if o.detached {
		// Nothing the supervisor starts may hold the pipe open or the claim on.
		syscall.CloseOnExec(3)
		syscall.CloseOnExec(4)
		opts.Claim = supervisor.InheritClaim(p.Name, os.NewFile(4, "claim"))
	} else {
		out := cmd.OutOrStdout()
		opts.Echo = func(name string, l supervisor.LogLine) {
			echoMu.Lock()
			fmt.Fprintf(out, "%-12s| %s\n", name, printable(l.Line))
			echoMu.Unlock()
		}
	}
	// Registered before Up, so that no signal between the two kills the supervisor:
	// one during Up cancels it, one after takes the stack down.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	sup, err := supervisor.Up(ctx, p, opts)
	stop()
	if err == nil {
		// Before up -d is told, so that its log says so once it has returned.
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: stack %s is up; API on %s\n", p.Name, supervisor.SocketPath(p.Name))
	}
	if o.detached {
		ready := os.NewFile(3, "ready")
		if err == nil {
			if _, werr := ready.Write([]byte("up\n")); werr != nil {
				// up -d is gone (killed, or gave up): nobody was told the stack is up.
				sup.Down(0)
				err = fmt.Errorf("stack %s: up -d went away before it was told the stack is up; taken down", p.Name)
			}
		}
		ready.Close()
	}
	if err != nil {
		return upError(err)
	}
	select {
	case <-signals:
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: taking stack %s down\n", p.Name)
		sup.Down(o.grace)
	case <-sup.Done():
	}
	<-sup.Done()
	return nil
}

// upError gives "already up" exit 1 (nothing was done), any other failure exit 2.
func upError(err error) error {
	var up *supervisor.AlreadyUpError
	if errors.As(err, &up) {
		return &codeError{code: exitPolicy, msg: "confine: " + err.Error()}
	}
	return &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
}

// defaultAuditLog is where a stack's audit log goes unless --audit-log names a file.
func defaultAuditLog(stack string) string {
	return filepath.Join("/var/log/confine", stack, "audit.log")
}

// detachSlack is how long past its deadline `up -d` waits for the supervisor, which
// gives up at the deadline itself and then takes down what it made.
const detachSlack = 10 * time.Second

// upDetached takes the stack's claim (so an `up` of a stack that is up touches nothing),
// re-executes confine as the stack's supervisor in a session of its own with its output
// in /run/confine/stacks/NAME.log, and returns once the supervisor says the stack is up.
// Past the deadline, or on SIGINT, SIGTERM or SIGHUP, it has the supervisor take the
// stack down, and waits for that.
func upDetached(cmd *cobra.Command, file, name string, deadline time.Time, o upOptions) error {
	claim, err := supervisor.TakeClaim(name)
	if err != nil {
		return upError(err)
	}
	// Caught from before the supervisor starts, so that no interruption can leave it to
	// come up on its own.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	logFile, child, readyR, err := startSupervisor(file, name, deadline, claim, o)
	if err != nil {
		claim.Release()
		return err
	}
	claim.Close() // the supervisor holds it now
	defer logFile.Close()
	answer := make(chan string, 1)
	go func() {
		msg, _ := io.ReadAll(readyR)
		answer <- strings.TrimSpace(string(msg))
	}()
	timer := time.NewTimer(time.Until(deadline) + detachSlack)
	defer timer.Stop()
	var why string
	select {
	case msg := <-answer:
		readyR.Close()
		if msg == "up" {
			fmt.Fprintf(cmd.OutOrStdout(), "stack %s is up (supervisor pid %d, log %s)\n", name, child.Process.Pid, supervisor.DetachedLog(name))
			return child.Process.Release()
		}
		child.Wait()
		out := readLog(logFile)
		reap(name)
		return &codeError{code: exitEnforcement, msg: out}
	case sig := <-signals:
		why = fmt.Sprintf("interrupted by %v", sig)
	case <-timer.C:
		why = fmt.Sprintf("not up within %v", o.wait)
	}
	// Closing the pipe first makes a supervisor that comes up now take the stack down
	// (its write fails), beside the SIGTERM that cancels its start.
	readyR.Close()
	stopSupervisor(child, o.grace)
	out := readLog(logFile)
	reap(name)
	return &codeError{code: exitEnforcement, msg: fmt.Sprintf("confine: stack %s %s; it was taken down\n%s", name, why, out)}
}

// startSupervisor starts `confine up --supervise-detached` with the ready pipe as fd 3
// and the claim as fd 4.
func startSupervisor(file, name string, deadline time.Time, claim *supervisor.Claim, o upOptions) (*os.File, *exec.Cmd, *os.File, error) {
	// Truncated only now that the claim is this process's: a supervisor that runs keeps
	// its log. Read back through this descriptor: a failed supervisor removes the file.
	logFile, err := os.OpenFile(supervisor.DetachedLog(name), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, nil, err
	}
	args := []string{"up", "--" + detachedFlag, "--wait", time.Until(deadline).String(), "--grace", o.grace.String()}
	if storeFlag != "" {
		args = append(args, "--store", storeFlag) // the supervisor reads the same store
	}
	if o.auditLog != "" {
		abs, err := filepath.Abs(o.auditLog)
		if err != nil {
			logFile.Close()
			return nil, nil, nil, err
		}
		args = append(args, "--audit-log", abs)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, nil, nil, err
	}
	defer readyW.Close()
	child := exec.Command("/proc/self/exe", append(args, file)...)
	child.Stdout, child.Stderr = logFile, logFile
	child.ExtraFiles = []*os.File{readyW, claim.File()}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		logFile.Close()
		readyR.Close()
		os.Remove(supervisor.DetachedLog(name))
		return nil, nil, nil, err
	}
	return logFile, child, readyR, nil
}

// stopSupervisor asks the supervisor to take the stack down and waits for it to exit;
// one that does not within grace and a margin is killed, and reap removes what it left.
func stopSupervisor(child *exec.Cmd, grace time.Duration) {
	done := make(chan struct{})
	go func() { child.Wait(); close(done) }()
	child.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace + 30*time.Second):
		child.Process.Kill()
		<-done
	}
}

// reap removes what a supervisor that exited without bringing the stack up may have left
// (it removes all of it itself unless it was killed), unless another `up` claimed the
// stack since.
func reap(name string) {
	claim, err := supervisor.TakeClaim(name)
	if err != nil {
		return
	}
	supervisor.Cleanup(name)
	os.Remove(supervisor.DetachedLog(name))
	claim.Release()
}

func readLog(f *os.File) string {
	f.Seek(0, io.SeekStart)
	out, _ := io.ReadAll(f)
	return strings.TrimSpace(string(out))
}
