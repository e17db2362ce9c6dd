//go:build !confine_slim

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/audit/diff"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
)

// exitGrew is audit diff's status when NEW grants more than OLD. It is 1, as for a policy
// or usage error, so that `if ! confine audit diff OLD NEW` blocks a merge on either; the
// two differ in their output: growth prints the diff on stdout and nothing on stderr, an
// error prints nothing on stdout and says why on stderr.
const exitGrew = 1

func newAuditDiffCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "What NEW grants that OLD did not, and what it takes away; exit 1 when privileges grew",
		Long: `diff compares two versions of a component or stack, component by component (matched by
name), and writes what NEW grants that OLD did not and what it takes away, as Markdown for
a review comment (--format json: the same as data). Each change names the declaration
responsible: in NEW for a grant, in OLD for what went away.

OLD and NEW are each a component policy, a stack file, or a Plan that
'confine compile --format json' wrote. Growth is judged on effect: syscalls allowed (or
allowed under more arguments), an argument deny dropped, on_violation log, capabilities in
any set, Landlock rights beneath a path (a parent replacing a child grants the parent),
rights or scopes Landlock no longer restricts, served ports and their callers, flows to
peers and outside addresses (new ports or a wider CIDR), published ports, a resource
limit raised or removed, uid or gid 0, a namespace shared with the host, a mechanism
newly best_effort, and every privilege of an added component. kill_process <-> errno
and a moved rootfs are notes, not growth. See docs/audit-diff.md.

Exit status:
  0  NEW grants nothing OLD did not (equal, or narrower)
  1  NEW grants more: the diff is on stdout and stderr is empty
  1  OLD or NEW could not be read or compiled, or a usage error: stdout is empty and
     stderr says why
so 'if ! confine audit diff OLD NEW; then block; fi' blocks on growth and on errors alike.

A relative rootfs or stack member resolves beside its file, so compare two checkouts,
e.g. 'git worktree add /tmp/base origin/main' then
'confine audit diff /tmp/base/api.yaml api.yaml'. A pipe such as <(git show main:api.yaml)
works for a component whose paths are all absolute, and for a Plan.`,
		Args:          cobra.ExactArgs(2),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "md" && format != "json" {
				return policyError(fmt.Errorf("confine: --format: expected md or json, found %q", format))
			}
			oldPlan, err := diffInput(args[0])
			if err != nil {
				return err
			}
			newPlan, err := diffInput(args[1])
			if err != nil {
				return err
			}
			baseline, err := policy.BaselineSyscalls()
			if err != nil {
				return err
			}
			d := diff.Diff(oldPlan, newPlan, baseline)
			if err := writeDiff(cmd.OutOrStdout(), &d, format); err != nil {
				return err
			}
			if d.Grew() {
				return &codeError{code: exitGrew}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md or json")
	return cmd
}

func writeDiff(w io.Writer, d *diff.PlanDiff, format string) error {
	if format == "md" {
		return d.Markdown(w)
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// diffInput reads FILE as a Plan when it holds JSON (what compile --format json writes,
// read by run --plan's readPlan), and otherwise compiles it as a policy or stack. A pipe
// can be read only once: its bytes are first copied to a file of the same name.
func diffInput(file string) (*plan.Plan, error) {
	if isPipe(file) {
		return pipedInput(file)
	}
	if holdsJSON(file) { // or else compilePolicy says why the file cannot be read
		p, err := readPlan(file)
		return p, reword(reword(err, "confine: --plan: ", "confine: "), "confine: --plan ", "confine: ")
	}
	return compilePolicy(file)
}

// holdsJSON reports whether the file's first non-blank byte opens a JSON object. A policy
// is YAML in block style; one written as a flow mapping should be compiled, not diffed.
func holdsJSON(file string) bool {
	f, err := openInput(file)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = bytes.TrimLeft(head[:n], " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}

// pipedInput copies a pipe's bytes into a temporary directory under the same base name,
// reads that, and puts the pipe's directory back wherever the temporary one shows (the
// Plan's sources and positions, error messages), as if the pipe had been read directly.
func pipedInput(file string) (*plan.Plan, error) {
	data, err := readInput(file, maxPipedInput)
	if err != nil {
		return nil, policyError(fmt.Errorf("confine: %s: %w", file, err))
	}
	dir, err := os.MkdirTemp("", "confine-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return nil, err
	}
	p, err := diffInput(tmp)
	if err != nil {
		return nil, reword(err, dir, filepath.Dir(file))
	}
	// The temporary directory's name holds a '-', which base64 (the BPF program) never
	// does: replacing it in the JSON touches only paths.
	data, err = json.Marshal(p)
	if err != nil {
		return nil, err
	}
	from, _ := json.Marshal(dir)
	to, _ := json.Marshal(filepath.Dir(file))
	var moved plan.Plan
	if err := json.Unmarshal(bytes.ReplaceAll(data, bytes.Trim(from, `"`), bytes.Trim(to, `"`)), &moved); err != nil {
		return nil, err
	}
	return &moved, nil
}

// reword replaces from with to in an error's message, keeping its exit status.
func reword(err error, from, to string) error {
	var ce *codeError
	if errors.As(err, &ce) {
		return &codeError{code: ce.code, msg: strings.ReplaceAll(ce.msg, from, to)}
	}
	if err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), from, to))
	}
	return nil
}
