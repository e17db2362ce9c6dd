//go:build !confine_slim

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
)

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
				return downLeftovers(cmd, name)
			}
			_, started := sandbox.ProcStat(pid)
			c := supervisor.NewClient(name)
			if err := c.Do("POST", "/v1/down?grace="+url.QueryEscape(grace.String()), nil); err != nil {
				return err
			}
			for deadline := time.Now().Add(grace + 30*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				// The process itself, not its pid file: the file goes first, with the
				// state directory, while the supervisor still removes the rest.
				if _, st := sandbox.ProcStat(pid); st != started || sandbox.Gone(pid) {
					sweepKernelAudit(cmd)
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

// downLeftovers removes what a killed supervisor of stack name left, holding the stack's
// claim so that an `up` cannot start meanwhile; Cleanup puts the kernel's audit back
// when the killed supervisor was its last holder.
func downLeftovers(cmd *cobra.Command, name string) error {
	claim, err := supervisor.TakeClaim(name)
	if err != nil {
		var up *supervisor.AlreadyUpError
		if errors.As(err, &up) {
			return &codeError{code: exitPolicy, msg: fmt.Sprintf("confine: stack %s is coming up; run down again once its up has returned", name)}
		}
		return err
	}
	defer claim.Release()
	if err := supervisor.Cleanup(name); err != nil {
		return &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
	}
	os.Remove(supervisor.DetachedLog(name))
	fmt.Fprintf(cmd.OutOrStdout(), "stack %s is down\n", name)
	return nil
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
			fmt.Fprintln(w, "NAME\tSTATE\tHEALTH\tPID\tADDRESS\tUSER\tEXIT\tRESTARTS\tIMAGE\tMODE")
			for _, s := range list {
				exit := "-"
				if s.ExitCode != nil && s.State == supervisor.StateExited {
					exit = fmt.Sprint(*s.ExitCode)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.State, or(s.Health, "-"), dash(s.Pid), or(s.Address, "-"), or(s.User, "-"), exit, s.Restarts, or(shortImage(s.Image), "-"), or(s.Mode, "enforce"))
				for _, e := range s.Execs { // confine exec commands, under their component
					line := []rune(printable(strings.Join(e.Command, " ")))
					if len(line) > 40 {
						line = append(line[:39], '…')
					}
					fmt.Fprintf(w, "  exec: %s\t%s\t-\t%d\t-\t-\t-\t-\t-\t-\n", string(line), supervisor.StateRunning, e.Pid)
				}
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
stack's audit log (/var/log/confine/STACK/logs/COMPONENT.log, rotated at 8 MiB; -f
follows on into the new file, as tail -F does), so they outlive down: with no supervisor running, logs reads that file (--log-dir names another
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
		fsys, done := policyFS(arg)
		s, err := policy.Open(fsys, arg)
		done()
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
