//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// forkBomb forks children that only wait for a signal until fork fails or max run, then
// kills and reaps them. The children are raw forks that make raw system calls only: a
// Go child would start threads of its own, and die of a failed thread start under a
// process limit, which frees its slot and hides the limit.
func forkBomb(max int) (string, error) {
	var pids []int
	var ferr error
	for len(pids) < max {
		pid, _, errno := unix.RawSyscall(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0)
		if errno != 0 {
			ferr = errno
			break
		}
		if pid == 0 {
			for {
				unix.RawSyscall(unix.SYS_PAUSE, 0, 0, 0)
			}
		}
		pids = append(pids, int(pid))
	}
	for _, pid := range pids {
		unix.RawSyscall(unix.SYS_KILL, uintptr(pid), uintptr(unix.SIGKILL), 0)
		unix.RawSyscall6(unix.SYS_WAIT4, uintptr(pid), 0, 0, 0, 0, 0)
	}
	if ferr != nil {
		return fmt.Sprint(len(pids)), fmt.Errorf("fork %d failed: %w", len(pids)+1, ferr)
	}
	return fmt.Sprint(len(pids)), nil
}

// hog maps and touches private memory a MiB at a time until a map fails or max MiB are
// held, reporting how many MiB it got. mmap, not make: the Go runtime ends the process
// on a failed allocation, where this reports the failure.
func hog(max int) (string, error) {
	var maps [][]byte
	defer func() {
		for _, m := range maps {
			unix.Munmap(m)
		}
	}()
	for len(maps) < max {
		m, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return fmt.Sprint(len(maps)), fmt.Errorf("mapping MiB %d: %w", len(maps)+1, err)
		}
		for i := 0; i < len(m); i += 4096 {
			m[i] = 1
		}
		maps = append(maps, m)
	}
	return fmt.Sprint(len(maps)), nil
}
