package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	cgroups "github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// cgroup2Mount is where the v2 hierarchy is mounted on a unified host.
const cgroup2Mount = "/sys/fs/cgroup"

// cgroup2Root is the v2 hierarchy Start makes the cgroup in before the clone, or "" for
// the v1 path (make beside the start, then attach). Options.Cgroup2Root overrides it:
// a test points it at a parent it made on a hybrid host's unified mount.
func cgroup2Root(opts Options) string {
	if opts.Cgroup2Root != "" {
		return opts.Cgroup2Root
	}
	if cgroups.Mode() == cgroups.Unified {
		return cgroup2Mount
	}
	return ""
}

// madeCgroupJob makes the cgroup now, before the clone, so that the init stage can
// start inside it (CLONE_INTO_CGROUP): the job then only attaches when the clone could
// not (cloned stays false), and sweeps. Nothing is left made on an error.
func madeCgroupJob(mount, name string, g plan.Cgroup, freezer bool) (*cgroupJob, error) {
	t := trace.Now()
	cg, err := newCgroupIn(mount, name, g, freezer)
	trace.Done("parent", "cgroup_make_v2", t)
	if err != nil {
		return nil, err
	}
	j := newCgroupJob(func() (*Cgroup, error) { return cg, nil })
	j.made = cg
	return j, nil
}

// newCgroupIn is NewCgroup on the v2 hierarchy mounted at mount.
func newCgroupIn(mount, name string, g plan.Cgroup, freezer bool) (*Cgroup, error) {
	if g == (plan.Cgroup{}) && !freezer {
		return nil, nil
	}
	cg, err := newCgroup2(mount, cgroupPath(name), g)
	if err != nil {
		return nil, err
	}
	cg.limits, cg.freezer = g, freezer
	return cg, nil
}

// startInit starts the init stage: through the spawner when it can (spawner_start_linux.go),
// else with cmd, inside its v2 cgroup when one is made, with a fresh exec.Cmd the old
// way (attach after the clone) when the kernel refuses CLONE_INTO_CGROUP: Go will not
// start an exec.Cmd twice.
func (s *Sandbox) startInit(ctx context.Context, cmd *exec.Cmd, opts Options) error {
	var dir *os.File
	if s.cgroup != nil && s.cgroup.made != nil && len(s.cgroup.made.dirs) == 1 {
		var err error
		if dir, err = os.OpenFile(s.cgroup.made.dirs[0], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("cgroup %s: %w", s.cgroup.made.Path, err)
		}
		defer dir.Close()
	}
	sp := opts.Spawner
	if s.spawnable(ctx, cmd, opts) {
		cloned, err := s.spawnInit(sp, cmd, dir)
		s.settleAhead(sp)
		if cloned {
			if sp.last {
				// It exits at EOF after its last answer: shut at the go signal and
				// reaped once the stage has exec'd (Go), so that its exit takes no core
				// from the stage's start.
				s.lastSpawner = sp
			}
			return err
		}
		s.spawnErr = err // no child: cmd, never started, starts it instead
	}
	s.settleAhead(sp)
	if sp != nil && sp.last {
		sp.Close() // the lone run's spawner is gone before exec.Cmd's child runs
	}
	s.cgroup.startAsync() // exec.Cmd's clone blocks this thread: the job runs beside it
	joinNS := opts.JoinNetNS
	if dir == nil {
		return s.startCmd(cmd, joinNS)
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(dir.Fd())
	err := s.startCmd(cmd, joinNS)
	if err == nil {
		s.cgroup.cloned, s.cloned = true, true
		return nil
	}
	if !cloneIntoRefused(err) {
		return err
	}
	s.cgroupRefused = err
	fresh := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	fresh.Env, fresh.Dir = cmd.Env, cmd.Dir
	fresh.Stdin, fresh.Stdout, fresh.Stderr, fresh.ExtraFiles = cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles
	attr := *cmd.SysProcAttr
	attr.UseCgroupFD, attr.CgroupFD = false, 0
	fresh.SysProcAttr = &attr
	return s.startCmd(fresh, joinNS)
}

// startCmd starts cmd and makes it the sandbox's process.
func (s *Sandbox) startCmd(cmd *exec.Cmd, joinNS string) error {
	if err := startIn(cmd, joinNS); err != nil {
		return err
	}
	s.proc = cmdProc{cmd}
	return nil
}

// cloneIntoRefused: the kernel has no clone3 (ENOSYS, before 5.3), no CLONE_INTO_CGROUP
// (EINVAL, before 5.7), or will not start a process in that cgroup (EOPNOTSUPP).
func cloneIntoRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

// ClonedIntoCgroup reports whether the init stage started inside its cgroup
// (CLONE_INTO_CGROUP), and why not when the kernel refused it.
func (s *Sandbox) ClonedIntoCgroup() (bool, error) {
	return s.cloned, s.cgroupRefused
}

// cgroupDir is the v2 directory of path under mount.
func cgroupDir(mount, path string) string { return filepath.Join(mount, path) }
