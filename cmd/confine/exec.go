//go:build !confine_slim

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/supervisor"
)

func newExec() *cobra.Command {
	var tty bool
	cmd := &cobra.Command{
		Use:   "exec STACK COMPONENT [--tty] -- CMD [ARG…]",
		Short: "Run a command inside a running component, under the component's own enforcement",
		Long: `exec runs CMD inside COMPONENT of a running stack: in its namespaces (user, mount,
pid, network, ipc, uts, cgroup) and cgroup, as its user with its groups and capabilities,
under a Landlock domain and a seccomp filter built from its Plan as its own were; never
more. The supervisor starts it and records it (component.exec, with the command); a
policy with run.exec: false refuses it (exit 1). --tty gives the command a terminal.
The command's exit status is confine's.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 2 || len(args) < 3 {
				return errors.New("expected STACK COMPONENT -- CMD [ARG…]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(args[0])
			if err != nil {
				return err
			}
			req := supervisor.ExecRequest{Command: args[2:], TTY: tty}
			var res supervisor.ExecResult
			if tty {
				res, err = execTTY(c, args[1], req)
			} else {
				res, err = c.Exec(args[1], req, [3]*os.File{os.Stdin, os.Stdout, os.Stderr})
			}
			var refused *supervisor.ExecRefused
			switch {
			case errors.As(err, &refused):
				return &codeError{code: exitPolicy, msg: "confine exec: " + refused.Msg}
			case err != nil:
				return &codeError{code: exitEnforcement, msg: "confine exec: " + err.Error()}
			case res.Error != "":
				return &codeError{code: exitEnforcement, msg: fmt.Sprintf("confine: exec failed at %s: %s", res.Step, res.Error)}
			case res.ExitCode != 0:
				return &codeError{code: res.ExitCode}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal (a pty this command relays)")
	return cmd
}
