// Command confine is a sandbox supervisor: it compiles a component's YAML policy into
// kernel enforcement and runs the component under it.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/cmd/confine/internal/compileahead"
	"github.com/confine-sandbox/confine/cmd/confine/internal/planahead"
	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// Exit codes, as DESIGN.md fixes them; a run passes its component's own status through.
const (
	exitOK          = 0
	exitPolicy      = 1 // policy or usage error
	exitEnforcement = 2 // enforcement could not be set up
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// The init stage, re-executed inside the new namespaces (runc's dispatch): it must
	// run before anything else and never returns.
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		sandbox.Init()
	}
	if len(os.Args) > 1 && os.Args[1] == sandbox.ExecArg {
		sandbox.ExecInit() // after sandbox/nsenter's C stage joined the component
	}
	fullFor(os.Args[1:]) // the slim binary hands what it does not have to the full one
	trace.FromEnv()
	code := execute(os.Args[1:], os.Stdout, os.Stderr)
	sandbox.EarlySpawner().Close() // a run that did not start through it, or --help: reaped
	os.Exit(code)
}

// execute runs one command line and returns the exit status; only it and main print errors.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRoot(args)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	var ce *codeError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		if ce.msg != "" {
			fmt.Fprintln(stderr, ce.msg)
		}
		return ce.code
	}
	fmt.Fprintln(stderr, "confine:", err)
	return exitPolicy
}

// codeError carries an exit code out of a command; msg, if any, is printed as is.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string { return e.msg }

// newRoot builds the command tree for args: only the command args name when it is one
// of commands (building all of them is most of cobra's start, about 0.1 ms of every
// run), and every command otherwise, for help, completion and cobra's suggestions.
func newRoot(args []string) *cobra.Command {
	root := newRootOnly()
	for _, c := range commands {
		if len(args) > 0 && args[0] == c.name {
			root.AddCommand(c.build())
			return root
		}
	}
	for _, c := range commands {
		root.AddCommand(c.build())
	}
	return root
}

// command is a top-level command by its name (TestCommandNames holds a name to its command's).
type command struct {
	name  string
	build func() *cobra.Command
}

// newRootOnly is the root command without its subcommands.
func newRootOnly() *cobra.Command {
	root := &cobra.Command{
		Use:   "confine",
		Short: "Run untrusted components under a declared, kernel-enforced policy",
		Long: `confine compiles a component's YAML policy (the ports it serves and calls, the paths,
syscalls, capabilities and resources it needs) into namespaces, seccomp, capabilities,
Landlock, cgroups and nftables, and runs it under them. Everything not declared is denied.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		// Any command run as root removes the uplinks of killed supervisors first; run
		// where its start needs it (runComponent).
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			trace.Span("parent", "cli", trace.Origin(), trace.Now())
			if cmd.Annotations[sweepsLater] != "" {
				return
			}
			sweepUplinksTraced(cmd)
		},
	}
	addStoreFlag(root)
	return root
}

// policyFS is what FILE loads through: a policy.Tree on FILE's directory, which opens
// FILE by the name the user typed (so error positions repeat it) and what FILE names
// only beneath that directory, regular files only. Call done when finished.
func policyFS(file string) (fsys fs.FS, done func()) {
	t, err := policy.OpenTree(file)
	if err != nil {
		return failFS{err}, func() {}
	}
	return t, func() { t.Close() }
}

// failFS fails every open with the reason the tree could not be opened.
type failFS struct{ err error }

func (f failFS) Open(string) (fs.File, error) { return nil, f.err }

// compilePolicy checks and compiles FILE; any policy error becomes exit status 1, with
// every error of every file listed. The file is loaded once on the way that succeeds
// (Compile validates); only a failure reloads it through Check, which lists every error
// where Compile stops at the first file that fails.
func compilePolicy(file string) (*plan.Plan, error) {
	return compilePolicyWith(file, &storeResolver{progress: os.Stderr}, nil)
}

// compilePolicyWith is compilePolicy with the resolver of run.image (which may pull) and
// the store of seccomp programs (compileahead.Programs for the commands that start
// components, nil for those that show a Plan). The way that succeeds is
// compileahead.Compile's, which run takes ahead of time.
func compilePolicyWith(file string, r policy.ImageResolver, programs policy.ProgramStore) (*plan.Plan, error) {
	p, err := compileahead.Compile(file, r, programs)
	if err == nil {
		return p, nil
	}
	return nil, compileErrors(file, err)
}

// compileErrors is the error of a compile of file that failed with err: every error
// check finds in it, or else err.
func compileErrors(file string, err error) error {
	fsys, done := policyFS(file)
	defer done()
	if errs := policy.Check(fsys, file); len(errs) > 0 {
		return policyError(errs)
	}
	return policyError(err)
}

// readPlan reads a Plan that `confine compile --format json` wrote, refusing another
// format version and a seccomp program that does not match its recorded hash (a
// truncated or hand-edited file). A Plan is input as a policy file is (audit diff reads
// one from a pull request): it is size-capped, its strings must be visible text as a
// policy's are, and what an error repeats of it is bounded.
func readPlan(file string) (*plan.Plan, error) {
	data, err := readInput(file, maxPipedInput)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, policyError(fmt.Errorf("confine: --plan: %w", err))
	}
	if err != nil {
		return nil, policyError(fmt.Errorf("confine: --plan %s: %w", file, err))
	}
	p, ok, err := planahead.Take(file, data) // decoded while the binary started
	if !ok {
		p, err = planahead.Decode(data)
	}
	if err != nil {
		return nil, policyError(fmt.Errorf("confine: --plan %s: %s", file, policy.Bound(err.Error())))
	}
	// A Plan of printable ASCII without escapes holds no string the walk could refuse
	// (policy.PlainJSON): the walk of every string costs 40-60 µs before the start.
	if !policy.PlainJSON(data) {
		if err := policy.CheckVisible(p); err != nil {
			return nil, policyError(fmt.Errorf("confine: --plan %s: %w", file, err))
		}
	}
	if p.Version != plan.Version {
		return nil, policyError(fmt.Errorf("confine: --plan %s: plan format %d, this confine reads %d; compile the policy again", file, p.Version, plan.Version))
	}
	for _, c := range p.Components {
		sum := sha256.Sum256(c.Seccomp.Program)
		if len(c.Seccomp.Program) == 0 || hex.EncodeToString(sum[:]) != c.Seccomp.ProgramSHA256 {
			return nil, policyError(fmt.Errorf("confine: --plan %s: component %s: the seccomp program does not match its program_sha256; compile the policy again", file, c.Name))
		}
	}
	return p, nil
}

func policyError(err error) error {
	return &codeError{code: exitPolicy, msg: err.Error()}
}

// pick returns the named component, or the only one; required says a stack needs a name.
func pick(p *plan.Plan, name string, required bool) (*plan.Component, error) {
	if name == "" && len(p.Components) == 1 {
		return &p.Components[0], nil
	}
	var names []string
	for i := range p.Components {
		if p.Components[i].Name == name {
			return &p.Components[i], nil
		}
		names = append(names, p.Components[i].Name)
	}
	if name == "" && required {
		return nil, policyError(fmt.Errorf("confine: a stack has several programs; choose one with --component (%s)", strings.Join(names, ", ")))
	}
	return nil, policyError(fmt.Errorf("confine: --component: no component %q; the stack has %s", name, strings.Join(names, ", ")))
}
