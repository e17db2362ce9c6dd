package sandbox

import (
	"context"
	"errors"
	"os"
	"sync"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Launch starts c with its cgroup made and joined, and its firewall loaded (by the
// supervisor as root, by the init stage without), beside the init stage's own start,
// and lets it finish and exec only once both are in place (DESIGN.md invariant 3). Mechanisms
// named in skip are the best_effort ones Preflight found missing. On any failure
// everything made so far is removed and the error says which step failed.
func Launch(ctx context.Context, c *plan.Component, opts Options, skip map[string]bool) (*Sandbox, error) {
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

// cgroupJob makes a component's cgroup in the background and, once it has the init
// stage's pid, moves it in (the Go init; v1's first move may wait for an RCU grace
// period, DESIGN.md) or opens the tasks files the C stage moves itself in by
// (cgroup_self_linux.go). The directories and limits need no process: both run while
// the init stage starts and sets up. Go waits for the job before the go signal, so the
// cgroup holds the process before the component's first instruction.
type cgroupJob struct {
	pid   chan int      // the init stage's pid, or 0 when it never started
	done  chan struct{} // closed once cg and err are final
	swept chan struct{} // closed once the sweep after the move is over
	cg    *Cgroup
	err   error
	// made is the cgroup made before the clone (v2), nil otherwise; cloned is set,
	// before the pid is sent, when the init stage started inside it: no attach.
	made   *Cgroup
	cloned bool
	// self is set, before the pid is sent, when the C stage moves itself in (v1,
	// cgroup_self_linux.go): the job then opens the tasks files it hands over, instead
	// of writing the pid. Go sends and closes them; end closes what is left.
	self  *selfAttach
	tasks []*os.File
	// went is closed once the go signal is sent (or the start ended): the sweep waits
	// for it, so that it does not take CPU from the init stage's own work.
	went     chan struct{}
	wentOnce sync.Once
}

// startCgroupJobWith runs the job with newCg making (or handing over) the cgroup.
func startCgroupJobWith(newCg func() (*Cgroup, error)) *cgroupJob {
	j := &cgroupJob{pid: make(chan int, 1), done: make(chan struct{}), swept: make(chan struct{}), went: make(chan struct{})}
	go func() {
		defer close(j.swept)
		j.make(newCg)
		close(j.done)
		if j.cg != nil || j.err != nil { // NewCgroup went past "no cgroup needed"
			<-j.went
			// The killed supervisors' cgroups go once the component is in its own: the
			// sweep is off the path to the go signal. No name it could remove is ours
			// (they hold this supervisor's pid).
			t := trace.Now()
			sweepCgroups()
			trace.Done("parent", "cgroup_sweep", t)
		}
	}()
	return j
}

// make makes the cgroup and moves the init stage in once its pid comes.
func (j *cgroupJob) make(newCg func() (*Cgroup, error)) {
	t := trace.Now()
	j.cg, j.err = newCg()
	trace.Done("parent", "cgroup_make", t)
	pid := <-j.pid
	if j.err != nil || j.cg == nil || pid <= 0 || j.cloned {
		return
	}
	if j.self != nil {
		t = trace.Now()
		j.tasks, j.err = j.cg.openTasks(j.self, pid)
		trace.Done("parent", "cgroup_open_tasks", t)
		return
	}
	t = trace.Now()
	j.err = j.cg.Add(pid)
	trace.Done("parent", "cgroup_attach", t)
}

// wait returns once the job is over, with its error.
func (j *cgroupJob) wait() error {
	<-j.done
	return j.err
}

// end stops the job, waiting for it, and removes the cgroup it made, if any, or leaves
// it in keep for the next run when the job went well.
func (j *cgroupJob) end(keep *KeptCgroup) {
	select {
	case j.pid <- 0: // the init stage never started: nothing to move in
	default: // the pid is sent already
	}
	j.letSweep()
	<-j.swept
	closeFiles(j.tasks)
	j.tasks = nil
	if keep != nil && j.err == nil && j.cg != nil {
		keep.put(j.cg)
		return
	}
	j.cg.Delete()
}

// letSweep lets the sweep run: the go signal is sent, or the start is over.
func (j *cgroupJob) letSweep() { j.wentOnce.Do(func() { close(j.went) }) }

// takeTasks hands over the tasks descriptors for the go signal, once the job is over;
// the caller closes them.
func (j *cgroupJob) takeTasks() []*os.File {
	fs := j.tasks
	j.tasks = nil
	return fs
}
