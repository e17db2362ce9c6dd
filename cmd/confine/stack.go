package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/host"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
)

// detachedFlag marks the re-executed supervisor of `up -d`; fd 3 is where it says it is up.
const detachedFlag = "supervise-detached"

func newUp() *cobra.Command {
	var detach, detached bool
	var grace, wait time.Duration
	var auditLog string
	cmd := &cobra.Command{
		Use:   "up STACK",
		Short: "Bring a stack up and supervise it (in the foreground, or -d in the background)",
		Long: `up compiles STACK (a stack file, or one component's file), checks the kernel (see
preflight), removes what a killed supervisor of the same stack left, and brings the stack
up: a bridge in a network namespace of its own with the stack firewall, a veth and address
per component, published ports on the host's loopback, then the components in the order
their flows and depends_on imply, each after what it calls is running and healthy.

In the foreground it prints every component's output prefixed with its name, and takes
the stack down on SIGINT or SIGTERM. With -d it returns once the stack is up; use ps,
logs, stop, start, restart, pause, unpause, events and down. The API is a unix socket at
/run/confine/stacks/NAME/api.sock (docs/api.openapi.yaml). Needs root.

Every event (the policy and enforcement applied, starts, exits, restarts, and each
seccomp, Landlock and firewall denial with what decided it) goes to the hash-chained audit
log, /var/log/confine/NAME/audit.log unless --audit-log says otherwise (docs/audit.md).
Reading the kernel's denials turns the kernel's audit on while stacks run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := compilePolicy(args[0])
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
			if detach {
				return upDetached(cmd, args[0], p.Name, wait, grace, auditLog)
			}
			var echoMu sync.Mutex
			if auditLog == "" {
				auditLog = defaultAuditLog(p.Name)
			}
			opts := supervisor.Options{Skip: skip, StartTimeout: wait, AuditLog: auditLog,
				Warn: func(msg string) { fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: %s\n", msg) }}
			if !detached {
				out := cmd.OutOrStdout()
				opts.Echo = func(name string, l supervisor.LogLine) {
					echoMu.Lock()
					fmt.Fprintf(out, "%-12s| %s\n", name, printable(l.Line))
					echoMu.Unlock()
				}
			}
			signals := make(chan os.Signal, 2)
			signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(signals)
			sup, err := supervisor.Up(p, opts)
			if detached {
				ready := os.NewFile(3, "ready")
				if err == nil {
					ready.Write([]byte("up\n"))
				}
				ready.Close()
			}
			if err != nil {
				return &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "confine: stack %s is up; API on %s\n", p.Name, supervisor.SocketPath(p.Name))
			select {
			case <-signals:
				fmt.Fprintf(cmd.ErrOrStderr(), "confine: taking stack %s down\n", p.Name)
				sup.Down(grace)
			case <-sup.Done():
			}
			<-sup.Done()
			return nil
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run the supervisor in the background")
	cmd.Flags().BoolVar(&detached, detachedFlag, false, "")
	cmd.Flags().MarkHidden(detachedFlag)
	cmd.Flags().DurationVar(&grace, "grace", supervisor.DefaultGrace, "on SIGINT/SIGTERM, how long components have between SIGTERM and SIGKILL")
	cmd.Flags().StringVar(&auditLog, "audit-log", "", "the audit log (default /var/log/confine/NAME/audit.log)")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for each component to start and become healthy")
	return cmd
}

// defaultAuditLog is where a stack's audit log goes unless --audit-log names a file.
func defaultAuditLog(stack string) string {
	return filepath.Join("/var/log/confine", stack, "audit.log")
}

// upDetached re-executes confine as the stack's supervisor in a session of its own, its
// output in /run/confine/stacks/NAME.log, and returns once it says the stack is up.
func upDetached(cmd *cobra.Command, file, name string, wait, grace time.Duration, auditLog string) error {
	if err := os.MkdirAll(supervisor.StateRoot, 0o700); err != nil {
		return err
	}
	logPath := supervisor.DetachedLog(name)
	// Read back through this descriptor: a failed supervisor removes the file.
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	args := []string{"up", "--" + detachedFlag, "--wait", wait.String(), "--grace", grace.String()}
	if auditLog != "" {
		abs, err := filepath.Abs(auditLog)
		if err != nil {
			return err
		}
		args = append(args, "--audit-log", abs)
	}
	child := exec.Command("/proc/self/exe", append(args, file)...)
	child.Stdout, child.Stderr = logFile, logFile
	child.ExtraFiles = []*os.File{readyW}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return err
	}
	readyW.Close()
	msg, _ := io.ReadAll(readyR)
	readyR.Close()
	if strings.TrimSpace(string(msg)) != "up" {
		child.Wait()
		logFile.Seek(0, io.SeekStart)
		out, _ := io.ReadAll(logFile)
		return &codeError{code: exitEnforcement, msg: strings.TrimSpace(string(out))}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "stack %s is up (supervisor pid %d, log %s)\n", name, child.Process.Pid, logPath)
	return child.Process.Release()
}

func newDown() *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "down STACK",
		Short: "Stop a stack's components and remove its network, cgroups and state",
		Long: `down asks the stack's supervisor to stop every component (SIGTERM, then SIGKILL after
--grace), remove the network namespace with its bridge and firewall, and exit. When the
supervisor was killed, down removes what it left: the pinned network namespace, empty
cgroups and the state directory. STACK is the stack file or the stack's name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := stackName(args[0])
			if err != nil {
				return err
			}
			pid, alive := supervisor.Running(name)
			if !alive {
				if err := supervisor.Cleanup(name); err != nil {
					return &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
				}
				os.Remove(supervisor.DetachedLog(name))
				fmt.Fprintf(cmd.OutOrStdout(), "stack %s is down\n", name)
				return nil
			}
			c := supervisor.NewClient(name)
			if err := c.Do("POST", "/v1/down?grace="+url.QueryEscape(grace.String()), nil); err != nil {
				return err
			}
			for deadline := time.Now().Add(grace + 30*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if _, alive := supervisor.Running(name); !alive {
					fmt.Fprintf(cmd.OutOrStdout(), "stack %s is down\n", name)
					return nil
				}
			}
			return fmt.Errorf("the supervisor (pid %d) did not exit", pid)
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", supervisor.DefaultGrace, "time between SIGTERM and SIGKILL")
	return cmd
}

func newPs() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ps STACK",
		Short: "List a stack's components: state, health, pid, address, exit code, restarts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(args[0])
			if err != nil {
				return err
			}
			var list []supervisor.Status
			if err := c.Do("GET", "/v1/components", &list); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSTATE\tHEALTH\tPID\tADDRESS\tEXIT\tRESTARTS")
			for _, s := range list {
				exit := "-"
				if s.ExitCode != nil && s.State == supervisor.StateExited {
					exit = fmt.Sprint(*s.ExitCode)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.Name, s.State, or(s.Health, "-"), dash(s.Pid), or(s.Address, "-"), exit, s.Restarts)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	return cmd
}

func dash(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func newLogs() *cobra.Command {
	var follow, timestamps, raw bool
	var tail int
	var logDir string
	cmd := &cobra.Command{
		Use:   "logs STACK COMPONENT",
		Short: "Print a component's output (all runs), optionally following it",
		Long: `logs prints what a component wrote, from every run. The lines are kept beside the
stack's audit log (/var/log/confine/STACK/logs/COMPONENT.log, rotated at 8 MiB), so they
outlive down: with no supervisor running, logs reads that file (--log-dir names another
directory, for a stack brought up with --audit-log elsewhere). Printed to a terminal,
control characters are escaped so that output cannot drive the terminal; --raw prints
the lines exactly as written, carriage returns and escape sequences included.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			show := lineShower(cmd.OutOrStdout(), timestamps, raw)
			c, err := client(args[0])
			if notRunning(err) && !follow {
				return keptLogs(args[0], args[1], logDir, tail, show)
			}
			if err != nil {
				return err
			}
			q := url.Values{"tail": {fmt.Sprint(tail)}, "follow": {fmt.Sprint(follow)}}
			resp, err := c.Stream("GET", "/v1/components/"+url.PathEscape(args[1])+"/logs?"+q.Encode())
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				var l supervisor.LogLine
				if json.Unmarshal(sc.Bytes(), &l) != nil {
					continue
				}
				show(l)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print lines as written, control characters and all")
	cmd.Flags().StringVar(&logDir, "log-dir", "", "where a stopped stack's logs are (default /var/log/confine/STACK/logs)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVar(&tail, "tail", 0, "only the last N lines (0: all)")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "prefix each line with its time")
	return cmd
}

// newAction makes stop, start, restart, pause and unpause: one POST per component.
func newAction(action, short string) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   action + " STACK COMPONENT...",
		Short: short,
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(args[0])
			if err != nil {
				return err
			}
			for _, name := range args[1:] {
				var st supervisor.Status
				path := "/v1/components/" + url.PathEscape(name) + "/" + action + "?grace=" + url.QueryEscape(grace.String())
				if err := c.Do("POST", path, &st); err != nil {
					return fmt.Errorf("%s %s: %w", action, name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", st.Name, st.State)
			}
			return nil
		},
	}
	if action == "stop" || action == "restart" {
		cmd.Flags().DurationVar(&grace, "grace", supervisor.DefaultGrace, "time between SIGTERM and SIGKILL")
	}
	return cmd
}

func newEvents() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "events STACK",
		Short: "Print the stack's events as JSON Lines: lifecycle, health, dropped packets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(args[0])
			if err != nil {
				return err
			}
			resp, err := c.Stream("GET", "/v1/events?follow="+fmt.Sprint(follow))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(cmd.OutOrStdout(), resp.Body)
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	return cmd
}

// stackName is the name of STACK given as a stack file or as a name.
func stackName(arg string) (string, error) {
	if fi, err := os.Stat(arg); err == nil && !fi.IsDir() {
		s, err := policy.Open(hostFS{}, arg)
		if err != nil {
			return "", policyError(err)
		}
		return s.Name, nil
	}
	if !supervisor.ValidName(arg) {
		return "", fmt.Errorf("%q: no such stack file, and not a stack name (lowercase letters, digits and inner hyphens)", arg)
	}
	return arg, nil
}

func client(arg string) (*supervisor.Client, error) {
	name, err := stackName(arg)
	if err != nil {
		return nil, err
	}
	if _, alive := supervisor.Running(name); !alive {
		return nil, fmt.Errorf("%w: %s (no supervisor runs; confine up %s)", supervisor.ErrNotRunning, name, arg)
	}
	return supervisor.NewClient(name), nil
}

// printable escapes control characters (but tabs) in a component's output, so that it
// cannot move the cursor, retitle the terminal or overwrite another component's prefix.
func printable(line string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return '\ufffd'
	}, line)
}
