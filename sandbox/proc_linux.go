package sandbox

import (
	"fmt"

	"github.com/confine-sandbox/confine/internal/proc"
)

// ProcStat reads a process's state (field 3 of /proc/PID/stat) and start time in clock
// ticks since boot (field 22), or "" for both when there is no such process. The start
// time tells a process from a later one that reused its pid.
func ProcStat(pid int) (state, started string) {
	return proc.Stat(fmt.Sprintf("/proc/%d/stat", pid))
}

// Gone reports whether pid has ended: no such process, or a zombie, such as a supervisor
// killed with SIGKILL that its parent has not reaped yet. What such a supervisor left
// (root directories, cgroups, a stack's state) is then free to be swept. Every thread
// counts: a SIGKILLed process's main thread is a zombie while its other threads are still
// exiting, and those still hold its flocks (a stack's claim) for that moment.
func Gone(pid int) bool {
	return proc.Ended(pid)
}
