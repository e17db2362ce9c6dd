package sandbox

import (
	"fmt"
	"os"
	"strings"
)

// ProcStat reads a process's state (field 3 of /proc/PID/stat) and start time in clock
// ticks since boot (field 22), or "" for both when there is no such process. The start
// time tells a process from a later one that reused its pid.
func ProcStat(pid int) (state, started string) {
	return statFile(fmt.Sprintf("/proc/%d/stat", pid))
}

func statFile(path string) (state, started string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", ""
	}
	// The command name (field 2) may hold spaces: count fields after its closing paren.
	i := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return "", ""
	}
	return fields[0], fields[19]
}

// Gone reports whether pid has ended: no such process, or a zombie, such as a supervisor
// killed with SIGKILL that its parent has not reaped yet. What such a supervisor left
// (root directories, cgroups, a stack's state) is then free to be swept. Every thread
// counts: a SIGKILLed process's main thread is a zombie while its other threads are still
// exiting, and those still hold its flocks (a stack's claim) for that moment.
func Gone(pid int) bool {
	if state, _ := ProcStat(pid); state == "" {
		return true
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true
	}
	for _, t := range tasks {
		if state, _ := statFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name())); state != "" && state != "Z" && state != "X" {
			return false
		}
	}
	return true
}
