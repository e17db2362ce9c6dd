package sandbox

import (
	"errors"
	"os"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Late is a caller's part of a start that need not come before the init stage has its
// program (Options.Late): a lone run's preflight, the catching of its signals. It
// returns the mechanisms to skip, as Preflight's findings name them.
//
// The spawner's spare runs the C stage from the moment its program comes, for 2-3 ms
// before it waits for the go signal, so everything the supervisor does before the
// program's send delays the exec by as much. Launch renders for the skip it is given (a
// lone run: none, the common case), runs Late once the init stage is started and its
// idmapped mounts are sent (the C stage has its program by then; the Go init gets its
// config after), before the cgroup is made, and starts over with Late's skip when that
// is another: the first start is killed and reaped, and what it made removed. A Late
// error ends the start, and Launch returns it as it is. Nothing of the component has
// run: that waits for the go signal.
type Late func() (skip map[string]bool, err error)

// errLate stops a start whose Late failed or asked for another skip: Launch has Late's
// word.
var errLate = errors.New("the start's late part stopped it")

// lateRun is one Launch's Late: run once, from Start (checkedLate), or after Start failed.
type lateRun struct {
	f    Late
	ran  bool
	skip map[string]bool // Late's
	err  error
	want map[string]bool // the skip the start was rendered for
}

// run runs Late once: errLate when the start must stop (Late failed, or the skip differs).
func (l *lateRun) run() error {
	if l == nil || l.f == nil {
		return nil
	}
	if !l.ran {
		l.ran = true
		l.skip, l.err = l.f()
	}
	if l.err != nil || !sameSkip(l.skip, l.want) {
		return errLate
	}
	return nil
}

// sameSkip: a and b skip the same of what Launch reads (launchSkips); a landlock
// finding, say, renders the same start.
func sameSkip(a, b map[string]bool) bool {
	for _, m := range launchSkips {
		if a[m] != b[m] {
			return false
		}
	}
	return true
}

// launchSkips are the mechanisms whose skip changes what Launch starts.
var launchSkips = []string{"nftables", "cgroups"}

// checkedLate runs what Start leaves until its program is sent, in the order it had
// before: the caller's Late (its preflight came first of all), then the program
// store's check. A start that fails before calls it too, so that their errors still
// come first.
func (s *Sandbox) checkedLate(c *plan.Component, opts Options) error {
	if err := opts.late.run(); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := checkProgramStore(c); err != nil {
			return &StepError{Step: "mounts", Err: err.Error()}
		}
	}
	return nil
}
