//go:build confine_slim

// The slim binary, bin/confine (`go build -tags confine_slim`): `confine run` of a Plan or
// a policy file, without the libraries only other commands need (the image store and
// its registry client, the stack supervisor's HTTP API, exports, reports), whose package
// initialisation would cost every run more than a millisecond (docs/BENCHMARKS.md). Its
// C constructor hands every other command, and the runs it can tell need the full
// binary, to bin/confine-full beside it before the Go runtime starts
// (sandbox/stage/stage_slim.c); main hands over, by exec and before anything is set up,
// what the constructor could not (a run found to need the image store once compiled).
// Both run the same run.go: what differs is only whether a run gets here.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/cmd/confine/internal/compileahead"
	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

var commands = []command{{"run", newRun}}

// fullEnv marks the full binary's start by this one (full.go, stage_slim.c). Its value is
// not read: a caller may set it, and the full binary this one hands over to is always
// confine-full beside it.
const fullEnv = "_CONFINE_FULL"

func init() { os.Unsetenv(fullEnv) } // not for the component, nor for what the run starts

// No image store here: a compile ahead of run.image fails, and the run goes to the full
// binary (beforeRun's needsStore, once run's own compile hands it over).
func init() {
	plancache.SetImages(nil, nil, nil)
	compileahead.SetImages(nil)
}

// fullFor hands every command but run to the full binary.
func fullFor(args []string) {
	if len(args) == 0 || args[0] != "run" {
		handOver()
	}
}

// beforeInput hands a run to the full binary before its Plan is read when that is a
// pipe: one read here would leave nothing for the full binary to read, should the run
// need it (beforeRun).
func beforeInput(planFile string) {
	if planFile != "" && isPipe(planFile) {
		handOver()
	}
}

// beforeRun hands a run to the full binary when it needs a part this one lacks: the
// lone run's uplink and published ports, the audit log, the image store.
func beforeRun(p *plan.Plan, c *plan.Component, publish []string, ra *runAudit) {
	if len(publish) > 0 || p.Single && p.Network.Uplink != nil || ra.enabled() || needsStore(c) {
		handOver()
	}
}

// handOver execs the full binary with this one's command line, after closing the early
// spawner (and its spare) this binary's constructor forked. It returns only if the exec
// fails, by exiting with status 2.
func handOver() {
	sandbox.EarlySpawner().Close()
	fd, err := fullExe()
	if err == nil {
		err = syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), os.Args, append(os.Environ(), fullEnv+"=1"))
	}
	fmt.Fprintf(os.Stderr, "confine: running the full binary: %v\n", err)
	os.Exit(exitEnforcement)
}

// fullExe opens confine-full beside this binary, checked as the constructor checks it
// (stage_slim.c): a regular file (no symlink) of this binary's owner, writable by nobody
// else, and paired with this build. It returns the descriptor checked (O_PATH,
// close-on-exec), which handOver executes through /proc/self/fd: by the path, a binary
// renamed into its place after the check would run. syscall.Exec, not execveat, puts
// back the caller's RLIMIT_NOFILE, which this process may have raised; the process name
// the descriptor gives it, the full binary's constructor puts right (full_named).
func fullExe() (int, error) {
	self, err := os.Executable()
	if err != nil {
		return -1, err
	}
	var me unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &me); err != nil {
		return -1, err
	}
	path := filepath.Join(filepath.Dir(self), "confine-full")
	// Checked by a descriptor that opens nothing, then read through it: only a regular
	// file is opened to be read (a device or a FIFO could block or do something).
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := checkFull(fd, path, self, &me); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// checkFull checks the confine-full open on fd (fullExe) against this binary's status me.
func checkFull(fd int, path, self string, me *unix.Stat_t) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != me.Uid || st.Mode&0o022 != 0 || st.Mode&0o100 == 0 || st.Dev == me.Dev && st.Ino == me.Ino {
		return fmt.Errorf("%s is not a regular file owned by uid %d, executable and writable by nobody else", path, me.Uid)
	}
	// Neither setuid, setgid nor with file capabilities: they go with another user's exec.
	if _, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", fd), "security.capability", nil); err == nil || st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		return fmt.Errorf("%s is setuid, setgid or has file capabilities; confine is never installed so", path)
	}
	rd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(rd)
	if !stage.PairedFull(rd) {
		return fmt.Errorf("%s is not of this build (not paired with %s: make build builds both)", path, self)
	}
	return nil
}

// What follows is reached only for a run beforeRun kept, which needs none of it; each
// part fails closed all the same, should a run ever get there.

var errSlim = errors.New("the slim confine lacks this part of a run; run confine-full")

// storeResolver is the full binary's for a policy with run.image: that run goes to it.
type storeResolver struct {
	pull     bool
	progress io.Writer
}

func (*storeResolver) ResolveImage(string) (*policy.ImageFacts, error) {
	handOver()
	return nil, errSlim
}

type loneNet struct {
	ra            *runAudit
	hosts, resolv string
}

func openLoneNet(p *plan.Plan, _ *plan.Component, publish []string, _ io.Writer) (*loneNet, error) {
	if len(publish) > 0 || p.Single && p.Network.Uplink != nil {
		return nil, errSlim
	}
	return nil, nil
}

func (*loneNet) close()                        {}
func (*loneNet) closeDrops()                   {}
func (*loneNet) attach(*sandbox.Sandbox) error { return errSlim }

type runAudit struct{ runAuditFlags }

func (*runAudit) open(*plan.Component, string, io.Writer) error { return errSlim }
func (*runAudit) launching(map[string]bool)                     {}
func (*runAudit) attach(*sandbox.Sandbox) error                 { return errSlim }
func (*runAudit) observed(observe.Call)                         {}
func (*runAudit) startFailed(error)                             {}
func (*runAudit) started(*sandbox.Sandbox)                      {}
func (*runAudit) exited(int, bool)                              {}

func prepareStorage(c *plan.Component, _ string) *storage {
	if needsStore(c) {
		return readyStorage(func(*sandbox.Options) (func(), error) { return nil, errSlim })
	}
	return nil
}
