package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/cmd/confine/internal/compileahead"
	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/host"
	"github.com/confine-sandbox/confine/internal/memtrim"
	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

func newRun() *cobra.Command {
	var component, planFile string
	var timeout, grace time.Duration
	var tty bool
	var ra runAudit
	var publish []string
	cmd := &cobra.Command{
		Use:         "run FILE [-- ARGS...] | run --plan PLAN.json [-- ARGS...]",
		Annotations: map[string]string{sweepsLater: "runComponent"},
		Short:       "Run one component in the foreground under its policy",
		Long: `run compiles FILE, checks that this kernel can enforce all of it (see preflight), and runs
the component in new namespaces with its mounts, capabilities, Landlock rules, seccomp
filter, cgroup limits and firewall in place before its first instruction. ARGS are
appended to run.command. stdout and stderr pass through; SIGINT, SIGTERM and SIGHUP are
forwarded; confine exits with the component's status (128+signal when it was killed), or
2 when enforcement could not be set up.

As root the seccomp program is built once and kept for later starts of the same filter
in /var/cache/confine/seccomp, a directory only root may enter (CONFINE_SECCOMP_CACHE=off:
none; docs/policy.md "syscalls"), and so is the Plan FILE compiled to, in
/var/cache/confine/plans: a later run of the same files by the same confine takes it
instead of compiling them again (CONFINE_PLAN_CACHE=off: none; docs/policy.md "The
host").

--plan runs a Plan that 'confine compile FILE --format json' wrote, instead of compiling
FILE on every start: it skips the YAML, the profile merge and the seccomp build (about
2-4 ms). The Plan must come from this version of confine; recompile it when the policy
or confine changes.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if planFile != "" {
				if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
					return fmt.Errorf("run --plan takes no FILE; extra arguments follow --")
				}
				return nil
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t := trace.Now()
			var p *plan.Plan
			var err error
			beforeInput(planFile) // the slim binary hands a piped Plan to the full one unread
			if planFile != "" {
				p, err = readPlan(planFile)
			} else {
				var ok bool
				if p, ok = compileahead.Take(args[0]); !ok { // compiled while the binary started
					p, err = compileRun(args[0], &storeResolver{pull: true, progress: cmd.ErrOrStderr()})
				}
				args = args[1:]
			}
			if err != nil {
				return err
			}
			trace.Done("parent", "compile", t)
			c, err := pick(p, component, true)
			if err != nil {
				return err
			}
			c.Process.Args = append(c.Process.Args, args...)
			stack := "" // a lone component's id range is keyed by its name alone
			if !p.Single {
				stack = p.Name
			}
			code, err := runComponent(cmd, p, c, stack, stopTimes{timeout, grace}, tty, &ra, publish)
			if err != nil {
				return err
			}
			if code != 0 {
				return &codeError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&component, "component", "", "which component of a stack")
	cmd.Flags().StringVar(&planFile, "plan", "", "run this compiled Plan (confine compile --format json) instead of compiling FILE")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop the component after this long (e.g. 30s): SIGTERM, then SIGKILL after --grace")
	cmd.Flags().DurationVar(&grace, "grace", stopGrace, "how long SIGTERM (from --timeout or a forwarded signal) has before SIGKILL")
	cmd.Flags().BoolVar(&tty, "tty", false, "keep the controlling terminal (otherwise the component gets none)")
	ra.flags(cmd) // --audit-log, --show-denials (run_audit.go)
	cmd.Flags().StringArrayVarP(&publish, "publish", "p", nil, "publish a port of a lone component, [ADDR:]HOSTPORT:PORT[/tcp|/udp] as docker run -p (repeatable); its network.listen must name host or the clients")
	return cmd
}

// compileRun is compilePolicyWith for run: through root's kept Plans (plancache), as
// compileahead compiles ahead of time.
func compileRun(file string, r policy.ImageResolver) (*plan.Plan, error) {
	c := plancache.Open()
	if c != nil {
		c.Store = storeFlag // for the images of a kept Plan
	}
	p, err := compileahead.CompileKept(c, file, r, compileahead.Programs())
	if err != nil {
		return nil, compileErrors(file, err)
	}
	return p, nil
}

// stopGrace is how long a forwarded SIGINT, SIGTERM or SIGHUP, or --timeout's SIGTERM,
// has to end the component before SIGKILL, by default: docker stop's 10 s.
const stopGrace = 10 * time.Second

// stopTimes are run's --timeout (0: none) and --grace.
type stopTimes struct{ timeout, grace time.Duration }

// forward passes the supervisor's signals on to the component. The component is pid 1
// of its namespace, where a signal it has no handler for is ignored: after a grace
// period, as docker stop does, it is killed. A signal during the start waits for it and
// reaches the component once it runs (launched), unless the start has not ended within
// the grace period: a start blocked (an audit log that is a FIFO, a mount or an exec that
// hangs) is not waited for, and the signal ends the supervisor as it did when it came
// before signal.Notify, the init stage with it (its parent-death signal). Once the
// component is reaped a signal goes nowhere until the run is over (over), and then takes
// its default action on the supervisor, as after a failed start: what signal.Stop at the
// run's end gave, without Stop's round trips to the runtime's signal-mask thread.
func forward(signals <-chan os.Signal, launched <-chan *sandbox.Sandbox, over <-chan struct{}, grace time.Duration) {
	var pending []os.Signal
	var stuck <-chan time.Time
	var sb *sandbox.Sandbox
	for sb == nil {
		select {
		case s := <-signals:
			pending = append(pending, s)
			if stuck == nil {
				stuck = time.After(grace)
			}
		case <-stuck:
			for _, s := range pending {
				raise(s)
			}
			pending, stuck = nil, nil
		case sb = <-launched:
		case <-over: // the start failed
			for _, s := range pending {
				raise(s)
			}
			for s := range signals {
				raise(s)
			}
			return
		}
	}
	for _, s := range pending {
		pass(sb, s, grace, over)
	}
	for s := range signals {
		pass(sb, s, grace, over)
	}
}

// pass sends s to the component, and SIGKILL after grace; a component reaped takes none.
func pass(sb *sandbox.Sandbox, s os.Signal, grace time.Duration, over <-chan struct{}) {
	if err := sb.Signal(s); errors.Is(err, os.ErrProcessDone) {
		select {
		case <-over:
			raise(s)
		default:
		}
		return
	}
	time.AfterFunc(grace, func() { sb.Signal(syscall.SIGKILL) })
}

// raise gives s its default action on the supervisor (none for one it was started
// ignoring: Reset gives that back).
func raise(s os.Signal) {
	if sig, ok := s.(syscall.Signal); ok {
		signal.Reset(s)
		syscall.Kill(os.Getpid(), sig)
	}
}

// runPreflight checks that this host can enforce c, and warns of each best_effort
// mechanism it lacks: those are the start's skip.
func runPreflight(cmd *cobra.Command, c *plan.Component) (map[string]bool, error) {
	t := trace.Now()
	findings, err := sandbox.Preflight(&plan.Plan{Components: []plan.Component{*c}}, host.Probe())
	trace.Done("parent", "preflight", t)
	if err != nil {
		return nil, &codeError{code: exitEnforcement, msg: "confine: enforcement cannot be set up:\n" + err.Error()}
	}
	skip := map[string]bool{}
	for _, f := range findings {
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: %s\n", f)
		skip[f.Mechanism] = true
	}
	return skip, nil
}

func runComponent(cmd *cobra.Command, p *plan.Plan, c *plan.Component, stack string, stop stopTimes, tty bool, ra *runAudit, publish []string) (int, error) {
	beforeRun(p, c, publish, ra) // the slim binary hands a run it cannot serve to the full one
	// A killed supervisor's uplink may hold this one's names: its sweep comes first when
	// the run has an uplink, and beside the start otherwise (sweep).
	uplink := p.Single && (p.Network.Uplink != nil || len(publish) > 0)
	if uplink {
		sweepUplinksTraced(cmd)
	}
	ln, err := openLoneNet(p, c, publish, cmd.ErrOrStderr())
	if err != nil {
		return 0, err
	}
	defer ln.close() // after Wait
	if ln != nil {
		ln.ra = ra
	}
	// The early spawner's spare has its network namespace already: its firewall loads
	// beside preflight and the start, which then takes that spare (sandbox.Start).
	early := sandbox.EarlySpawner()
	if !tty && c.Mode != plan.ModeAudit {
		early.LoadFirewallAhead(c.Net.Firewall)
	}
	// A run that the early spawner's spare may take hands it its program first: the
	// preflight and the catching of signals follow, before the go signal (sandbox.Late),
	// and the sweeps once the component runs. Audit mode and --tty start through
	// exec.Cmd, and the audit log records the findings before the start: those keep the
	// order.
	// A run with a volume keeps it too: the store's part, readied beside the start, makes
	// a volume that is not there yet, and it outlives a refused run.
	late := early != nil && !tty && c.Mode != plan.ModeAudit && !ra.enabled() && !hasVolume(c)
	preflight := func() (map[string]bool, error) { return runPreflight(cmd, c) }
	var swept chan struct{}
	defer func() {
		if swept != nil {
			<-swept
		}
	}()
	// Caught from before the go signal, and forwarded once the component runs. Never
	// stopped: once the run is over a signal is the supervisor's own again (forward).
	signals := make(chan os.Signal, 4)
	launched, over := make(chan *sandbox.Sandbox, 1), make(chan struct{})
	defer close(over) // the run is over: after the storage's clean-up, before the network's and the audit sweep's
	caught := make(chan struct{})
	// Notify's first call starts the runtime's signal-mask thread and the watcher's, and
	// each signal it enables is a round trip to the former (two thread hand-offs, more
	// from a locked goroutine): 0.1-0.4 ms of CPU, more wall on two busy cores. A
	// goroutine's, beside the start; the go signal waits for it (caught, opts.Attach).
	catch := func() {
		go func() {
			t := trace.Now()
			signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			trace.Done("parent", "notify", t)
			close(caught)
			forward(signals, launched, over, stop.grace)
		}()
	}
	// What SIGKILLed supervisors left of the kernel's audit, and of their uplinks, goes
	// beside the launch (a late start's: once the component runs), off its path.
	sweep := func() {
		swept = make(chan struct{})
		go func() {
			defer close(swept)
			sweepKernelAudit(cmd)
			if !uplink {
				sweepUplinksTraced(cmd)
			}
		}()
	}
	var skip map[string]bool
	if !late {
		var err error
		if skip, err = preflight(); err != nil {
			return 0, err
		}
		sweep()
		catch()
		<-caught
	}
	// The parent-death signal follows the thread that started the child: keep this one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The early spawner (root, the C stage) makes the init stage when it can; Start
	// closes it otherwise, and main closes it on every path that does not get here.
	opts := sandbox.Options{Stdin: os.Stdin, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), TTY: tty, Stack: stack,
		Spawner: early}
	// The store's part (the image's upper, the volumes) is readied beside the start,
	// which waits for it where it makes the image's mounts.
	var hosts string
	if ln != nil {
		hosts = ln.hosts
	}
	st := prepareStorage(c, hosts)
	st.into(&opts)
	defer st.close() // after Wait: the run's upper goes, its volumes stay
	if c.Mode == plan.ModeAudit && !ra.enabled() {
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: %s runs in audit mode: nothing is enforced, and its would-be denials are recorded only with --audit-log or --show-denials\n", c.Name)
	}
	if ra.enabled() {
		if err := ra.open(c, stack, cmd.ErrOrStderr()); err != nil {
			return 0, err
		}
		ra.launching(skip)
		opts.Attach = ra.attach
		if c.Mode == plan.ModeAudit {
			opts.Observe = ra.observed
		}
	}
	if ln != nil {
		opts.Hosts, opts.Resolv = ln.hosts, ln.resolv
		auditAttach := opts.Attach
		opts.Attach = func(sb *sandbox.Sandbox) error {
			if err := ln.attach(sb); err != nil {
				return err
			}
			if auditAttach != nil {
				return auditAttach(sb)
			}
			return nil
		}
	}
	if late {
		opts.Late = func() (map[string]bool, error) {
			catch()
			return preflight()
		}
		then := opts.Attach
		opts.Attach = func(sb *sandbox.Sandbox) error {
			<-caught // before the component's first instruction
			if then != nil {
				return then(sb)
			}
			return nil
		}
	}
	sb, err := sandbox.Launch(context.Background(), c, opts, skip)
	if late {
		sweep()
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return 0, ce // the preflight's (Late)
	}
	if err != nil {
		if serr := st.wait(); serr != nil {
			err = serr // the store's own words, as when it was readied before the start
		}
		if ra.enabled() {
			ra.startFailed(err)
		}
		return 0, &codeError{code: exitEnforcement, msg: "confine: " + err.Error()}
	}
	if ra.enabled() {
		ra.started(sb)
	}
	for _, f := range sb.Findings() {
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: %s\n", f)
	}
	launched <- sb
	if stop.timeout > 0 {
		t := time.AfterFunc(stop.timeout, func() {
			sb.Signal(syscall.SIGTERM)
			time.AfterFunc(stop.grace, func() { sb.Signal(syscall.SIGKILL) })
		})
		defer t.Stop()
	}
	// A component that runs on leaves the supervisor only waiting: give back what the
	// start needed. Not at once, so that a short run's exit does not wait for it.
	memtrim.After(memtrim.Delay, memtrim.Pieces) // it clones nothing more: the pieces cost no fork
	code, err := sb.Wait()
	ln.closeDrops()
	if ra.enabled() {
		ra.exited(code, sb.OOMKilled())
	}
	return code, err
}
