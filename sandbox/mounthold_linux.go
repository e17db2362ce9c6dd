package sandbox

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
)

// The supervisor holds the component's mount namespace from its exec to release, so that
// the namespace's teardown leaves the component's exit (docs/BENCHMARKS.md, session 24).
//
// Whoever drops a mount namespace's last reference tears it down: every mount unhashed,
// an RCU grace period (namespace_unlock's synchronize_rcu_expedited), then each mount put
// and the run's own superblocks killed (proc, /dev's and /dev/shm's tmpfs, devpts, the
// masks' tmpfs). Dropped by pid 1's exit, all of it ran before the kernel reported that
// exit, 0.2-0.35 ms of `wait`, and the cgroup's removal could only start after it. Held,
// the exit is reported without it; release drops the namespace on another thread while
// it removes the cgroup, and waits for both before it returns, so nothing of the run
// outlives Wait or Kill.

// holdMounts opens the component's mount namespace once it has exec'd: the process is
// the supervisor's unreaped child, so the pid cannot name another. A component already
// gone (or a kernel that refuses) leaves the teardown to its exit, as before.
func (s *Sandbox) holdMounts() {
	if s.proc == nil {
		return
	}
	t := trace.Now()
	fd, err := unix.Open("/proc/"+strconv.Itoa(s.proc.Pid())+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	s.mounts = os.NewFile(uintptr(fd), "mnt namespace")
	trace.Done("parent", "mounts_hold", t)
}

// dropMounts drops the namespace held, if any, on a goroutine of its own: the teardown
// runs there. The channel closes once it is done; nil when nothing was held.
func (s *Sandbox) dropMounts() <-chan struct{} {
	f := s.mounts
	if f == nil {
		return nil
	}
	s.mounts = nil
	done := make(chan struct{})
	go func() {
		t := trace.Now()
		f.Close()
		trace.Done("parent", "mounts_drop", t)
		close(done)
	}()
	return done
}
