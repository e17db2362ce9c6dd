package sandbox

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// startIn starts cmd in the network namespace at nsPath, or in a new one when nsPath is
// "". clone(2) gives the child the calling thread's namespaces, and exec.Cmd forks from
// the calling thread, which Start's caller keeps locked: that thread enters the
// namespace for the fork and returns to its own right after. Joining a network
// namespace from a multithreaded process is allowed (a mount or user namespace is not).
func startIn(cmd *exec.Cmd, nsPath string) error {
	if nsPath == "" {
		return cmd.Start()
	}
	target, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("the network namespace to join: %w", err)
	}
	defer target.Close()
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining %s: %w", nsPath, err)
	}
	serr := cmd.Start()
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is left in the other namespace: it must not run anything else. The
		// caller's goroutine keeps it locked, and a locked thread whose goroutine ends
		// is destroyed.
		return fmt.Errorf("returning from %s: %w (this thread stays locked)", nsPath, err)
	}
	return serr
}
