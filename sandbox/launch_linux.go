package sandbox

import (
	"context"
	"errors"
	"sync"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Launch starts c with its cgroup made and joined, and its firewall loaded (by the
// supervisor as root, by the init stage without), beside the init stage's own start,
// and lets it finish and exec only once both are in place (DESIGN.md invariant 3). Mechanisms
// named in skip are the best_effort ones Preflight found missing. On any failure
// everything made so far is removed and the error says which step failed.
//
// opts.Late runs once the init stage has its program: a skip other than skip starts
// over with Late's, and a Late error is returned as it is (late_linux.go).
func Launch(ctx context.Context, c *plan.Component, opts Options, skip map[string]bool) (*Sandbox, error) {
	if opts.Late == nil {
		return launch(ctx, c, opts, skip)
	}
	l := &lateRun{f: opts.Late, want: skip}
	opts.Late, opts.late = nil, l
	sb, err := launch(ctx, c, opts, skip)
	if l.run() == nil { // it ran in Start (or after its failure), and agreed
		return sb, err
	}
	if sb != nil {
		sb.Kill()
	}
	if l.err != nil {
		return nil, l.err
	}
	opts.late = nil
	return launch(ctx, c, opts, l.skip)
}

func launch(ctx context.Context, c *plan.Component, opts Options, skip map[string]bool) (*Sandbox, error) {
	opts.skipFirewall = skip["nftables"]
	opts.withCgroup = !skip["cgroups"]
	opts.rlimitFallback = skip["cgroups"]
	sb, err := Start(ctx, c, opts)
	var se *StepError
	if errors.As(err, &se) {
		return nil, se
	}
	if err != nil {
		return nil, &StepError{Step: "start", Err: err.Error()}
	}
	if opts.Attach != nil {
		if err := opts.Attach(sb); err != nil {
			// The init stage may have failed first, taking its namespace with it: its
			// own error says more.
			ierr := sb.initFailure()
			sb.Kill()
			if ierr != nil {
				return nil, ierr
			}
			return nil, &StepError{Step: "network", Err: err.Error()}
		}
	}
	if err := sb.Go(); err != nil {
		sb.Kill()
		return nil, err
	}
	return sb, nil
}

// cgroupJob makes a component's cgroup beside the init stage's start and, once it has
// the init stage's pid, moves it in (the Go init; v1's first move may wait for an RCU
// grace period, DESIGN.md) or opens the tasks files the C stage moves itself in by
// (cgroup_self_linux.go). The directories and limits need no process: both run while
// the init stage starts and sets up. Go waits for the job before the go signal, so the
// cgroup holds the process before the component's first instruction.
//
// A spawner's start runs it inline, on the start's own locked goroutine: the make while
// the spawner clones (between its request and its answer), the attach at Go, the sweep
// after the go signal while the stage execs. No goroutine, channel or P hand-off: a
// blocked locked goroutine costs the runtime two thread hand-offs, and a goroutine beside
// it the spinning of an idle P (docs/BENCHMARKS.md, session 22). exec.Cmd's start runs it
// in a goroutine of its own (async), as its clone blocks the start's thread.
type cgroupJob struct {
	newCg func() (*Cgroup, error)
	// async: the job's goroutine runs it (pid, done and swept are its); inline: the
	// start's goroutine does (makeInline, then wait and letSweep). Neither: not begun.
	async, inline bool
	pid           chan int      // async: the init stage's pid, or 0 when it never started
	done          chan struct{} // async: closed once cg and err are final
	swept         chan struct{} // async: closed once the sweep after the move is over
	cgMade        bool          // newCg has run
	pidv          int           // inline: the init stage's pid (gotPid)
	attached      bool          // inline: the attach has run (wait)
	cg            *Cgroup
	err           error
	// made is the cgroup made before the clone (v2), nil otherwise; cloned is set,
	// before the pid is sent, when the init stage started inside it: no attach.
	made   *Cgroup
	cloned bool
	// self is set, before the pid is sent, when the C stage moves itself in (v1,
	// cgroup_self_linux.go): the job then opens the tasks files it hands over, instead
	// of writing the pid. Go sends and closes them; end closes what is left.
	self  *selfAttach
	tasks []int
	// went is closed once the go signal is sent (or the start ended): the sweep waits
	// for it, so that it does not take CPU from the init stage's own work.
	went     chan struct{}
	wentOnce sync.Once
}

// newCgroupJob is a job with newCg making (or handing over) the cgroup, not begun:
// startAsync or makeInline begins it.
func newCgroupJob(newCg func() (*Cgroup, error)) *cgroupJob {
	return &cgroupJob{newCg: newCg, pid: make(chan int, 1), done: make(chan struct{}), swept: make(chan struct{}), went: make(chan struct{})}
}

// startAsync runs the job in a goroutine of its own, from where it is: a cgroup made
// inline for a spawn that made no child is attached there.
func (j *cgroupJob) startAsync() {
	if j == nil || j.async {
		return
	}
	j.async, j.inline = true, false
	go func() {
		defer close(j.swept)
		if !j.cgMade {
			j.makeCg()
		}
		j.attach(<-j.pid)
		close(j.done)
		if j.cg != nil || j.err != nil { // NewCgroup went past "no cgroup needed"
			<-j.went
			j.sweep()
		}
	}()
}

// makeInline makes the cgroup on the caller's goroutine (the spawner clones meanwhile).
func (j *cgroupJob) makeInline() {
	if j.async || j.cgMade {
		return
	}
	j.inline = true
	j.makeCg()
}

func (j *cgroupJob) makeCg() {
	t := trace.Now()
	j.cg, j.err = j.newCg()
	j.cgMade = true
	trace.Done("parent", "cgroup_make", t)
}

// gotPid hands the job the init stage's pid.
func (j *cgroupJob) gotPid(pid int) {
	if j.async {
		j.pid <- pid
		return
	}
	j.pidv = pid
}

// attach moves the init stage in, or opens the tasks files it moves itself in by.
func (j *cgroupJob) attach(pid int) {
	if j.err != nil || j.cg == nil || pid <= 0 || j.cloned {
		return
	}
	if j.self != nil {
		t := trace.Now()
		j.tasks, j.err = j.cg.openTasks(j.self, pid)
		trace.Done("parent", "cgroup_open_tasks", t)
		return
	}
	t := trace.Now()
	j.err = j.cg.Add(pid)
	trace.Done("parent", "cgroup_attach", t)
}

// sweep removes the killed supervisors' cgroups, once the component is in its own: off
// the path to the go signal. No name it could remove is ours (they hold this
// supervisor's pid).
func (j *cgroupJob) sweep() {
	t := trace.Now()
	sweepCgroups(j.cg)
	trace.Done("parent", "cgroup_sweep", t)
}

// wait returns once the job is over, with its error: inline, it attaches now.
func (j *cgroupJob) wait() error {
	if !j.async {
		if !j.attached {
			j.attached = true
			j.attach(j.pidv)
		}
		return j.err
	}
	<-j.done
	return j.err
}

// end stops the job, waiting for it, and removes the cgroup it made, if any, or leaves
// it in keep for the next run when the job went well.
func (j *cgroupJob) end(keep *KeptCgroup) {
	if j.async {
		select {
		case j.pid <- 0: // the init stage never started: nothing to move in
		default: // the pid is sent already
		}
	}
	j.letSweep()
	if j.async {
		<-j.swept
	}
	closeFDs(j.tasks)
	j.tasks = nil
	if keep != nil && j.err == nil && j.cg != nil {
		keep.put(j.cg)
		return
	}
	j.cg.Delete()
}

// letSweep lets the sweep run: the go signal is sent, or the start is over. Inline, it
// runs here.
func (j *cgroupJob) letSweep() {
	j.wentOnce.Do(func() {
		if j.inline && (j.cg != nil || j.err != nil) {
			j.sweep()
		}
		close(j.went)
	})
}

// takeTasks hands over the tasks descriptors for the go signal, once the job is over;
// the caller closes them.
func (j *cgroupJob) takeTasks() []int {
	fs := j.tasks
	j.tasks = nil
	return fs
}
