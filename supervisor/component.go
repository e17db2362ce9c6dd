package supervisor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/confine-sandbox/confine/internal/memtrim"
	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// States of a component, as `confine ps` shows them.
const (
	StateCreated = "created" // not started yet, or waiting for a restart
	StateRunning = "running"
	StatePaused  = "paused"
	StateExited  = "exited"
)

// Health states; "" when the component has no health check.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Restart back-off: 1 s, doubling to 30 s; a run longer than backoffReset starts over.
const (
	backoffFirst = time.Second
	backoffMax   = 30 * time.Second
	backoffReset = 10 * time.Second
)

// Status is a component's state as the API reports it.
type Status struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Health  string `json:"health,omitempty"`
	Pid     int    `json:"pid,omitempty"`
	Address string `json:"address,omitempty"`
	// User is whom the run runs as inside: uid:gid, after run.user's names when it has
	// them ("redis 103:111"), resolved by the sandbox at start.
	User       string     `json:"user,omitempty"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Error      string     `json:"error,omitempty"` // why the last start failed
	Restarts   int        `json:"restarts"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Image is the image the component runs from, REF@DIGEST, or "" (volumes.go).
	Image string `json:"image,omitempty"`
	// Execs are the `confine exec` commands running inside it (exec.go).
	Execs []ExecStatus `json:"execs,omitempty"`
	// Mode is enforce, or audit for a component that only observes (nothing enforced).
	Mode string `json:"mode"`
}

// component is one supervised component. Its runner goroutine owns the sandbox; API
// handlers change what is wanted and signal the runner.
type component struct {
	sup   *Supervisor
	plan  *plan.Component
	index int
	log   *logBook

	mu         sync.Mutex
	status     Status
	sb         *sandbox.Sandbox
	wanted     bool          // should be running
	stopping   bool          // a stop was asked of the current run
	launching  chan struct{} // non-nil while Launch runs; closed when it returns
	wake       chan struct{} // nudges the runner out of a wait
	generation int
	healthy    chan struct{} // closed once healthy (or running, without a check)
	healthErr  error         // the last failed health check, for up's error
	started    chan struct{} // closed when the current run started or failed to
	// pastPids are the pids of the last runs, newest last, so that kernel denial records
	// read after a run ended still name this component (componentOf).
	pastPids []int
	execs    []ExecStatus // running `confine exec` commands (exec.go)
	// cgroup is the component's cgroup between its runs: a restart reuses it. The
	// runner alone removes it: when a stop ended the component (dropCgroup, set by
	// stop) and when the runner ends (down).
	cgroup     sandbox.KeptCgroup
	dropCgroup bool
}

// maxPastPids bounds component.pastPids under a restart loop.
const maxPastPids = 16

func newComponent(s *Supervisor, c *plan.Component, index int, log *logBook) *component {
	return &component{
		sup: s, plan: c, index: index, log: log,
		status:  Status{Name: c.Name, State: StateCreated, Address: c.Net.Address, Mode: or(c.Mode, "enforce")},
		wake:    make(chan struct{}, 1),
		healthy: make(chan struct{}),
		started: make(chan struct{}),
	}
}

func (c *component) snapshot() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	st.Image = imageOf(c.plan)
	st.Execs = slices.Clone(c.execs)
	return st
}

func (c *component) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run is the runner goroutine. It stays on one locked OS thread for its whole life: the
// parent-death signal of every sandbox it starts follows that thread, so the components
// die with the supervisor, however it ends.
func (c *component) run(ctx context.Context) {
	runtime.LockOSThread() // never unlocked: the thread ends with the supervisor's runner
	defer c.cgroup.Delete()
	backoff := backoffFirst
	for {
		c.mu.Lock()
		wanted := c.wanted
		c.mu.Unlock()
		c.dropStopped()
		if !wanted {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				continue
			}
		}
		began := time.Now()
		code, err := c.once()
		c.mu.Lock()
		stopped := c.stopping || !c.wanted
		c.stopping = false
		restart := !stopped && ctx.Err() == nil && (c.plan.Supervise.Restart == "always" ||
			c.plan.Supervise.Restart == "on-failure" && (err != nil || code != 0))
		if !restart && !stopped {
			c.wanted = false // a stop cleared it already, and a start since may have set it
		}
		c.mu.Unlock()
		c.dropStopped()
		if !restart {
			continue
		}
		if time.Since(began) > backoffReset {
			backoff = backoffFirst
		}
		c.sup.events.emit(c.plan.Name, EventRestart, map[string]any{"in_ms": backoff.Milliseconds()})
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-c.wake: // a stop during the back-off
		}
		backoff = min(2*backoff, backoffMax)
		c.mu.Lock()
		if c.wanted {
			c.status.Restarts++
		}
		c.mu.Unlock()
	}
}

// once starts the component and waits for it to end: its exit status, or the error that
// kept it from starting (then nothing of it is left).
func (c *component) once() (int, error) {
	began := trace.Now() // the spawn's trace: from here to the exec, and to the exit
	c.dropStopped()      // a stop that raced this start: its run starts in a new cgroup
	c.mu.Lock()
	c.generation++
	gen := c.generation
	c.status.Health = ""
	if c.plan.Supervise.Health != nil {
		c.status.Health = HealthStarting
	}
	c.mu.Unlock()

	var drops *netfilter.LogReader
	opts := sandbox.Options{
		Stdout:     c.log.writer("stdout"),
		Stderr:     c.log.writer("stderr"),
		Hosts:      hostsFile(c.plan),
		Resolv:     resolvConf(c.plan, c.sup.plan.Network.BridgeAddress),
		Freezer:    true,
		CgroupName: c.sup.plan.Name + "." + c.plan.Name,
		Keep:       &c.cgroup, // a restart reuses the last run's cgroup
		Stack:      c.sup.plan.Name,
		Spawner:    c.sup.spawner,
		Attach: func(sb *sandbox.Sandbox) error {
			defer trace.Done("parent", "attach", trace.Now())
			// Listen for the component's drops before its first instruction: beside the
			// bridge's wiring, which needs none of it.
			listened := make(chan error, 1)
			go func() {
				t := trace.Now()
				defer trace.Done("parent", "attach_nflog", t)
				r, err := netfilter.ListenLog(sb.NetNS(), c.plan.Net.Firewall.LogGroup)
				if err != nil {
					listened <- fmt.Errorf("NFLOG group %d: %w", c.plan.Net.Firewall.LogGroup, err)
					return
				}
				if err := r.CountSuppressed(c.plan.Net.Firewall.Table); err != nil {
					r.Close()
					listened <- err
					return
				}
				drops = r
				listened <- nil
			}()
			var err error
			if c.sup.bridge != nil {
				t := trace.Now()
				err = c.sup.bridge.Attach(sb.NetNS(), netfilter.PortName(c.index, gen), c.plan.Net.Address)
				trace.Done("parent", "attach_bridge", t)
			}
			if lerr := <-listened; err == nil {
				err = lerr
			}
			return err
		},
	}
	opts.Observe = c.observer()
	c.mu.Lock()
	launching := make(chan struct{})
	c.launching = launching
	c.mu.Unlock()
	// Logged before the launch, so that no denial of the run can come before it.
	c.sup.events.emit(c.plan.Name, EventPolicy, enforcement(c.plan, c.sup.skip))
	release, err := PrepareStorage(c.sup.store, c.plan, &opts)
	var sb *sandbox.Sandbox
	if err == nil {
		defer release() // once the run has ended: its upper goes, its volumes stay
		sb, err = sandbox.Launch(context.Background(), c.plan, opts, c.sup.skip)
		trace.Done("spawn", "to_exec", began)
	}
	now := time.Now().UTC()
	c.mu.Lock()
	c.launching = nil
	close(launching)
	if err != nil {
		if drops != nil {
			drops.Close() // it holds the failed run's namespace, and its bridge port
		}
		c.status.State, c.status.Error, c.status.Pid = StateExited, err.Error(), 0
		c.status.FinishedAt = &now
		c.signalStarted()
		c.mu.Unlock()
		c.sup.events.emit(c.plan.Name, EventStartFail, map[string]any{"error": err.Error()})
		return 0, err
	}
	c.sb = sb
	if !c.wanted || c.sup.closing.Load() {
		sb.Signal(syscall.SIGKILL) // stopped, or the stack went down, while it launched
	}
	uid, gid := sb.IDs()
	c.status = Status{Name: c.plan.Name, State: StateRunning, Health: c.status.Health, Pid: sb.Pid(),
		Address: c.plan.Net.Address, User: userStatus(c.plan.Process, uid, gid), Restarts: c.status.Restarts, StartedAt: &now, Mode: or(c.plan.Mode, "enforce")}
	if c.plan.Supervise.Health == nil {
		close(c.healthy)
	}
	c.signalStarted()
	c.mu.Unlock()
	hostUID, hostGID := sb.HostIDs()
	start := map[string]any{
		"pid": sb.Pid(), "policy": c.plan.Source, "policy_sha256": c.plan.SourceHash,
		"seccomp_sha256": c.plan.Seccomp.ProgramSHA256, "generation": gen,
		"host_uid": hostUID, "host_gid": hostGID, // the first of its range's ids
		"uid": uid, "gid": gid, // inside, run.user's names resolved
	}
	if f := sb.Findings(); len(f) > 0 {
		start["best_effort_skipped"] = f // e.g. a write path bound without idmap
	}
	StartMode(c.plan, start)
	c.sup.events.emit(c.plan.Name, EventStart, start)
	memtrim.After(memtrim.Delay, memtrim.Whole) // start-up and launch are behind; restarts clone it
	go c.sup.forwardDrops(c.plan.Name, drops)
	done := make(chan struct{})
	if h := c.plan.Supervise.Health; h != nil {
		go c.checkHealth(h, sb, done)
	}

	code, werr := sb.Wait()
	trace.Done("spawn", "to_exit", began)
	c.dropStopped() // before stop sees the run gone: the cgroup goes with a stopped run
	close(done)
	drops.Close()
	end := time.Now().UTC()
	c.mu.Lock()
	c.sb = nil
	c.pastPids = append(c.pastPids, sb.Pid())
	if len(c.pastPids) > maxPastPids {
		c.pastPids = c.pastPids[1:]
	}
	c.status.State, c.status.Pid, c.status.FinishedAt = StateExited, 0, &end
	c.status.ExitCode = &code
	if c.plan.Supervise.Health != nil {
		c.status.Health = ""
	}
	c.healthy, c.healthErr = make(chan struct{}), nil
	c.mu.Unlock()
	details := map[string]any{"exit_code": code}
	if code > 128 {
		details["signal"] = syscall.Signal(code - 128).String()
	}
	if sb.OOMKilled() {
		details["oom_killed"] = true
	}
	c.sup.events.emit(c.plan.Name, EventExit, details)
	return code, werr
}

// dropStopped removes the kept cgroup once a stop asked for it (not a restart's).
// It removes it under c.mu, so that a stop that sees the flag cleared finds it gone.
func (c *component) dropStopped() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropCgroup {
		c.cgroup.Delete()
		c.dropCgroup = false
	}
}

// signalStarted wakes whoever waits for this run to start; c.mu is held.
func (c *component) signalStarted() {
	close(c.started)
	c.started = make(chan struct{})
}

// checkHealth runs the component's health check (probe, health_exec.go) until done.
func (c *component) checkHealth(h *plan.HealthCheck, sb *sandbox.Sandbox, done <-chan struct{}) {
	interval := time.Duration(h.IntervalMS) * time.Millisecond
	timeout := time.Duration(h.TimeoutMS) * time.Millisecond
	failures := 0
	first := true
	for {
		err := c.probe(h, sb, timeout)
		if err == nil {
			failures = 0
		} else {
			failures++
		}
		c.mu.Lock()
		was := c.status.Health
		c.healthErr = err
		switch {
		case err == nil:
			c.status.Health = HealthHealthy
		case failures >= h.Retries:
			c.status.Health = HealthUnhealthy
		}
		now := c.status.Health
		if now == HealthHealthy && (first || was != HealthHealthy) {
			select {
			case <-c.healthy:
			default:
				close(c.healthy)
			}
		}
		c.mu.Unlock()
		if now != was {
			c.sup.events.emit(c.plan.Name, EventHealth, map[string]any{"health": now})
		}
		first = false
		// Check often until the first success, then at the declared interval.
		wait := interval
		if now != HealthHealthy && failures < h.Retries {
			wait = min(interval, 200*time.Millisecond)
		}
		select {
		case <-done:
			return
		case <-time.After(wait):
		}
	}
}

// start asks for the component to run; it returns once the run started (or failed to).
func (c *component) start(ctx context.Context) error {
	if c.sup.closing.Load() {
		return fmt.Errorf("%s: the stack is going down", c.plan.Name)
	}
	c.mu.Lock()
	if c.wanted || c.status.State == StateRunning || c.status.State == StatePaused {
		c.mu.Unlock()
		return nil
	}
	c.wanted = true
	started := c.started
	c.mu.Unlock()
	c.nudge()
	select {
	case <-started:
	case <-ctx.Done():
		return fmt.Errorf("starting %s: %w", c.plan.Name, ctx.Err())
	}
	st := c.snapshot()
	switch {
	case st.State == StateRunning || st.State == StatePaused:
		return nil
	case st.Error != "":
		return fmt.Errorf("%s: %s", c.plan.Name, st.Error)
	case st.ExitCode != nil:
		return fmt.Errorf("%s exited at once, with status %d (confine logs shows its output)", c.plan.Name, *st.ExitCode)
	}
	return fmt.Errorf("%s did not start", c.plan.Name)
}

// waitHealthy blocks until the component runs and, with a health check, is healthy.
func (c *component) waitHealthy(ctx context.Context) error {
	c.mu.Lock()
	healthy := c.healthy
	c.mu.Unlock()
	select {
	case <-healthy:
		return nil
	case <-ctx.Done():
		st := c.snapshot()
		c.mu.Lock()
		last := c.healthErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("%s is not healthy (state %s, health %s): last check: %v", c.plan.Name, st.State, st.Health, last)
		}
		return fmt.Errorf("%s is not healthy (state %s, health %s)", c.plan.Name, st.State, st.Health)
	}
}

// stop ends the current run: SIGTERM, then SIGKILL after grace (the component is pid 1 of
// its namespace and ignores signals it has no handler for). It returns once it exited;
// its cgroup goes then too.
func (c *component) stop(grace time.Duration) { c.stopRun(grace, true) }

// restart stops the current run, keeping its cgroup for the next, and starts it again.
func (c *component) restart(ctx context.Context, grace time.Duration) error {
	c.stopRun(grace, false)
	return c.start(ctx)
}

// stopRun is stop; drop removes the component's kept cgroup once the run is over.
func (c *component) stopRun(grace time.Duration, drop bool) {
	c.mu.Lock()
	c.wanted = false
	c.dropCgroup = c.dropCgroup || drop
	if l := c.launching; l != nil {
		// A run is being launched: once it is, it sees that it is not wanted.
		c.mu.Unlock()
		<-l
		c.mu.Lock()
	}
	sb := c.sb
	if sb != nil {
		c.stopping = true
		if c.status.State == StatePaused {
			sb.Cgroup().Thaw() // a frozen process cannot act on the signal
			c.status.State = StateRunning
		}
	}
	c.mu.Unlock()
	c.nudge()
	if sb == nil {
		c.waitDropped()
		return
	}
	sb.Signal(syscall.SIGTERM)
	deadline := time.After(grace)
	for {
		select {
		case <-deadline:
			sb.Signal(syscall.SIGKILL)
			deadline = nil
		case <-time.After(20 * time.Millisecond):
		}
		c.mu.Lock()
		gone := c.sb != sb
		c.mu.Unlock()
		if gone {
			return
		}
	}
}

// waitDropped waits, a little, for the runner to remove the kept cgroup of a component
// that a stop found exited: the runner removes it at once when nudged.
func (c *component) waitDropped() {
	for i := 0; i < 200; i++ {
		c.mu.Lock()
		pending := c.dropCgroup
		c.mu.Unlock()
		if !pending {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pause freezes the component's cgroup; unpause thaws it.
func (c *component) pause(freeze bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	want, kind := StateRunning, EventUnpause
	if freeze {
		want, kind = StatePaused, EventPause
	}
	if c.sb == nil {
		return fmt.Errorf("%s is not running", c.plan.Name)
	}
	if c.status.State == want {
		return nil
	}
	var err error
	if freeze {
		err = c.sb.Cgroup().Freeze()
	} else {
		err = c.sb.Cgroup().Thaw()
	}
	if err != nil {
		return err
	}
	c.status.State = want
	c.sup.events.emit(c.plan.Name, kind, nil)
	return nil
}

// userStatus is Status.User: the names run.user gives, then the ids they resolved to.
func userStatus(p plan.Process, uid, gid uint32) string {
	ids := fmt.Sprintf("%d:%d", uid, gid)
	switch {
	case p.User != "" && p.Group != "":
		return p.User + ":" + p.Group + " " + ids
	case p.User != "":
		return p.User + " " + ids
	case p.Group != "":
		return fmt.Sprintf("%d:%s %s", uid, p.Group, ids)
	}
	return ids
}

// errNotFound is returned for an unknown component name.
var errNotFound = errors.New("no such component")

// enforcement is what a run was put under: the policy by hash and each mechanism as
// applied, best_effort mechanisms the kernel lacked named as skipped.
func enforcement(c *plan.Component, skip map[string]bool) map[string]any {
	var skipped []string
	for _, m := range c.BestEffort {
		if skip[m] {
			skipped = append(skipped, m)
		}
	}
	d := map[string]any{
		"policy": c.Source, "policy_sha256": c.SourceHash,
		"namespaces": c.Namespaces,
		"uid":        c.Process.UID, "gid": c.Process.GID, // 0 for a name, until component.start
		"user": c.Process.User, "group": c.Process.Group,
		"capabilities": c.Capabilities.Permitted,
		"seccomp": map[string]any{"program_sha256": c.Seccomp.ProgramSHA256, "on_violation": c.Seccomp.DefaultAction,
			"rules": len(c.Seccomp.Rules), "log": "SECCOMP_FILTER_FLAG_LOG"},
		"landlock": map[string]any{"handled_fs": c.Landlock.HandledFS, "handled_net": c.Landlock.HandledNet,
			"paths": len(c.Landlock.Paths), "scoped": c.Landlock.Scoped},
		"cgroup":              c.Cgroup,
		"firewall":            map[string]any{"table": c.Net.Firewall.Table, "flows": len(c.Net.Firewall.Flows), "log_group": c.Net.Firewall.LogGroup},
		"best_effort_skipped": skipped,
		"mode":                or(c.Mode, "enforce"),
	}
	if c.Audit != nil {
		// What runs instead: the sections above are the declarations observations are
		// compared with.
		d["audit"] = map[string]any{"capabilities_granted": c.Audit.Capabilities.Permitted, "observed_syscalls": c.Audit.Observe,
			"landlock": "not applied", "seccomp": "log, and user notification for the observed syscalls", "firewall": "log and accept"}
	}
	return d
}

// StartMode marks a component.start record of an audit-mode component: mode "audit",
// nothing enforced. An enforcing component's record stays as it was.
func StartMode(c *plan.Component, start map[string]any) {
	if c.Mode == plan.ModeAudit {
		start["mode"], start["enforced"] = plan.ModeAudit, false
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// observer records an audit-mode component's observed calls as denials (nil when it
// enforces): its own and those of the commands run inside it.
func (c *component) observer() func(observe.Call) {
	if c.plan.Mode != plan.ModeAudit {
		return nil
	}
	return func(call observe.Call) {
		for _, d := range ObservedDenials(c.sup.attribute, c.plan, call) {
			c.sup.emitDenial(c.plan.Name, d) // with the DNS name of its address, as Annotate does
		}
	}
}
