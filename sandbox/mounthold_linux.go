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
// exit, and the cgroup's removal could start only after it. Held, the exit is reported
// without it: a goroutine parked on a pidfd of the component drops the namespace at the
// exit, beside Wait's reaping and release's removal of the cgroup, and release waits for
// it, so nothing of the run outlives Wait or Kill.

// heldMounts is the component's mount namespace, and what drops it.
type heldMounts struct {
	ns   *os.File      // the namespace
	exit *os.File      // a pidfd of the component, on the runtime's poller; nil: release drops ns
	done chan struct{} // closed once ns is
}

// holdMounts opens the component's mount namespace once it has exec'd: the process is
// the supervisor's unreaped child, so its pid names no other. A component already gone,
// or a kernel that refuses, leaves the teardown to its exit, as before.
func (s *Sandbox) holdMounts() {
	if s.proc == nil {
		return
	}
	t := trace.Now()
	pid := s.proc.Pid()
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	h := &heldMounts{ns: os.NewFile(uintptr(fd), "mnt namespace"), done: make(chan struct{})}
	// Nonblocking, so that os.NewFile puts it on the poller: parked there, the goroutine
	// holds no thread, and wakes on another core as the kernel wakes Wait on this one.
	if pfd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		h.exit = os.NewFile(uintptr(pfd), "pidfd")
		go h.dropAtExit()
	}
	s.mounts = h
	trace.Done("parent", "mounts_hold", t)
}

// dropAtExit drops the namespace once the component has exited (a pidfd reads so from the
// exit on, reaped or not), or once release closes the pidfd.
func (h *heldMounts) dropAtExit() {
	if rc, err := h.exit.SyscallConn(); err == nil {
		rc.Read(func(fd uintptr) bool {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
			return err != unix.EAGAIN && err != unix.EINTR && (err != nil || info.Signo != 0)
		})
	}
	h.drop()
}

// drop closes the namespace, which tears it down here when it was the last reference.
func (h *heldMounts) drop() {
	t := trace.Now()
	h.ns.Close()
	trace.Done("parent", "mounts_drop", t)
	close(h.done)
}

// dropMounts makes sure the namespace held, if any, is dropped, and waits for its
// teardown: the component is gone by the time release calls it.
func (s *Sandbox) dropMounts() {
	h := s.mounts
	if h == nil {
		return
	}
	s.mounts = nil
	if h.exit == nil {
		h.drop()
		return
	}
	h.exit.Close() // wakes dropAtExit if the exit has not
	<-h.done
}
