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
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
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
// (root directories, cgroups, a stack's state) is then free to be swept.
func Gone(pid int) bool {
	state, _ := ProcStat(pid)
	return state == "" || state == "Z"
}
