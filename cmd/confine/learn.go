//go:build !confine_slim

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/cmd/confine/internal/compileahead"
	"github.com/confine-sandbox/confine/learn"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/sandbox"
)

// learnFlags are confine learn's options.
type learnFlags struct {
	out, image, merge, base, workload, log string
	duration, grace                        time.Duration
}

func newLearn() *cobra.Command {
	var f learnFlags
	cmd := &cobra.Command{
		Use:   "learn -o POLICY.yaml [--policy BASE.yaml] [--image REF] [--merge OLD.yaml] [--workload 'SH'] [--duration D] [-- CMD...]",
		Short: "Run a command in audit mode and write the least policy that allows what it did",
		Long: `learn runs CMD as a lone component in audit mode (mode: audit: every layer observes
instead of denying, and records each would-be denial), then writes to POLICY.yaml the
least policy that would have allowed what it did: the syscalls it called (a @group where
it used all of it), the paths it read and wrote, the ports it bound (served to the host:
from: [host]), the destinations it connected to, the capabilities it needed. The policy
passes confine check, runs the command with full enforcement, and says beside each entry
what was seen.

The component is host-view with the host-runtime profile (the host's /usr, loader and
libraries), or --image REF. --policy BASE.yaml starts from a policy of yours (its user,
binds, environment, listen and the paths you want granted whatever is seen); CMD, when
given, replaces its run.command. A profile in its extends that has a syscalls section
(service, cli) is written out as what else it grants, so its allowlist hides nothing.

The command is the service. Learning ends when the first of these happens:
  - CMD exits;
  - --workload 'SH' exits: SH runs with /bin/sh -c on the host, in the component's
    network namespace, as soon as the component runs (so 127.0.0.1:PORT is the
    component; retry until it answers, e.g. curl --retry 20 --retry-connrefused);
    a workload that fails fails learn, and nothing is written;
  - --duration D passes;
  - SIGINT or SIGTERM (Ctrl-C).
The component then gets SIGTERM, and SIGKILL after --grace.

--merge OLD.yaml folds an earlier learned policy into this one (run learn once per
workload and merge); without --policy the run starts from OLD.yaml. See docs/learn.md.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.out == "" {
				return fmt.Errorf("learn needs -o POLICY.yaml")
			}
			if cmd.ArgsLenAtDash() > 0 {
				return fmt.Errorf("learn takes no arguments before --: %q", args[0])
			}
			return runLearn(cmd, f, args)
		},
	}
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "write the learned policy to this file")
	cmd.Flags().StringVar(&f.image, "image", "", "run the command in this image instead of host-view")
	cmd.Flags().StringVar(&f.merge, "merge", "", "fold this earlier learned policy into the result")
	cmd.Flags().StringVar(&f.base, "policy", "", "start from this policy (its run, binds, listen, user)")
	cmd.Flags().StringVar(&f.workload, "workload", "", "a shell command that exercises the component; learning ends when it exits")
	cmd.Flags().StringVar(&f.log, "audit-log", "", "keep the run's audit log in this file (by default a temporary one, removed)")
	cmd.Flags().DurationVar(&f.duration, "duration", 0, "end learning after this long (e.g. 30s)")
	cmd.Flags().DurationVar(&f.grace, "grace", 5*time.Second, "how long SIGTERM has to end the component before SIGKILL")
	return cmd
}

func runLearn(cmd *cobra.Command, f learnFlags, command []string) error {
	spec := learn.RunSpec{Command: command, Image: f.image}
	var old []byte
	if f.merge != "" {
		data, err := readInput(f.merge, 1<<20)
		if err != nil {
			return fmt.Errorf("--merge: %w", err)
		}
		old = data
	}
	switch {
	case f.base != "":
		data, err := readInput(f.base, 1<<20)
		if err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
		spec.Base, spec.BaseName, spec.BaseDir = data, f.base, absDir(f.base)
		if err := checkBase(f.base, len(command) > 0); err != nil {
			return err
		}
	case old != nil:
		spec.Base, spec.BaseName, spec.BaseDir = old, f.merge, absDir(f.merge)
	}
	runYAML, err := learn.RunPolicy(spec)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "confine-learn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	runFile, logFile := filepath.Join(dir, "run.yaml"), filepath.Join(dir, "audit.log")
	if f.log != "" {
		logFile = f.log
	}
	if err := os.WriteFile(runFile, runYAML, 0o600); err != nil {
		return err
	}
	workErr, err := learnRun(cmd, f, runFile, logFile)
	if err != nil {
		return err
	}
	if workErr != nil {
		return fmt.Errorf("the workload failed, so nothing was written: %w", workErr)
	}
	var recs []audit.Record
	for _, file := range audit.LogFiles(logFile) {
		r, err := audit.ReadLog(file)
		recs = append(recs, r...)
		if err != nil {
			return fmt.Errorf("reading the run's audit log: %w", err)
		}
	}
	in := learn.Input{Run: runYAML, RunName: "the run's policy", Seen: learn.Observe(recs)}
	if old != nil {
		in.Old, in.OldName = old, f.merge
	}
	if f.image == "" {
		in.Options = hostFiles()
	}
	out, err := learn.Synthesize(in)
	if err != nil {
		return err
	}
	if err := writeAtomic(f.out, out); err != nil {
		return err
	}
	s := in.Seen
	fmt.Fprintf(cmd.ErrOrStderr(), "confine: learned %s from %d would-be denials (%d syscalls, %d paths, %d ports bound, %d destinations, %d capabilities); wrote %s\n",
		s.Component, s.Denials, len(s.Syscalls), len(s.Files), len(s.Listen), len(s.Connect), len(s.Caps), f.out)
	return nil
}

// checkBase reports BASE's own errors with their positions, before it is rewritten
// into the run's policy: all but its syscalls (replaced) and, when a command is given, its
// run.command (replaced).
func checkBase(file string, command bool) error {
	fsys, done := policyFS(file)
	defer done()
	var kept policy.ErrorList
	for _, e := range policy.Check(fsys, file) {
		if strings.HasPrefix(e.Path, "syscalls") || command && strings.HasPrefix(e.Path, "run.command") {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) > 0 {
		return policyError(kept)
	}
	return nil
}

// learnRun runs the component in audit mode with its log at logFile, and the workload
// beside it; it returns the workload's failure apart from the run's.
func learnRun(cmd *cobra.Command, f learnFlags, runFile, logFile string) (workErr error, err error) {
	p, err := compilePolicyWith(runFile, &storeResolver{pull: true, progress: cmd.ErrOrStderr()}, compileahead.Programs())
	if err != nil {
		return nil, err
	}
	c, err := pick(p, "", true)
	if err != nil {
		return nil, err
	}
	ra := runAudit{runAuditFlags: runAuditFlags{logPath: logFile}, calls: map[string]int{}}
	var wg sync.WaitGroup
	if f.workload != "" {
		ra.onStart = func(sb *sandbox.Sandbox) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				workErr = runWorkload(cmd, sb.NetNS(), f.workload)
				stopComponent(sb, f.grace)
			}()
		}
	}
	// The component's own exit status is not an error: learning ended either way.
	_, err = runComponent(cmd, p, c, "", stopTimes{timeout: f.duration, grace: f.grace}, false, &ra, nil)
	wg.Wait()
	return workErr, err
}

// runWorkload runs sh -c SH on the host in the network namespace nsPath; the process
// starts from a thread in that namespace, so it and its children are in it.
func runWorkload(cmd *cobra.Command, nsPath, sh string) error {
	w := exec.Command("/bin/sh", "-c", sh)
	w.Stdout, w.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
	// No Pdeathsig: it follows the thread that starts the child, which InNamespace ends.
	if err := netfilter.InNamespace(nsPath, w.Start); err != nil {
		return err
	}
	return w.Wait()
}

func stopComponent(sb *sandbox.Sandbox, grace time.Duration) {
	sb.Signal(syscall.SIGTERM)
	time.AfterFunc(grace, func() { sb.Signal(syscall.SIGKILL) })
}

// hostFiles answers learn's questions about host-view paths from the host itself.
func hostFiles() learn.Options {
	return learn.Options{
		Exists: func(p string) bool {
			_, err := os.Lstat(p)
			return err == nil
		},
		Resolve: func(p string) string {
			real, err := filepath.EvalSymlinks(p)
			if err != nil || real == p {
				return ""
			}
			return real
		},
	}
}

func absDir(file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return ""
	}
	return filepath.Dir(abs)
}

// writeAtomic writes data to file through a temporary file in its directory.
func writeAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".confine-learn-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
