// Package proc reads process states from /proc, for the product (sandbox.Gone) and the
// tests (testenv.Exited) alike: both ask whether a killed supervisor has really ended.
package proc

import (
	"fmt"
	"os"
	"strings"
)

// Stat reads the state (field 3) and start time in clock ticks since boot (field 22) of
// a /proc stat file, or "" for both when it cannot be read.
func Stat(path string) (state, started string) {
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

// Ended reports whether every thread of pid has ended: none left, or each a zombie. A
// process killed with SIGKILL shows its leader as a zombie while its other threads are
// still exiting, and those still hold its descriptors, and so its flocks.
func Ended(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true
	}
	for _, t := range tasks {
		if state, _ := Stat(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name())); state != "" && state != "Z" && state != "X" {
			return false
		}
	}
	return true
}
