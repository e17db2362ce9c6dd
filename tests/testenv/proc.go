package testenv

import (
	"os"
	"strconv"
	"strings"
)

// Exited reports whether every thread of pid has ended (none left, or each a zombie).
// A process killed with SIGKILL shows its leader as a zombie while its other threads
// still exit, holding its descriptors and so its locks (a stack's claim): a test that
// kills a supervisor waits for this before it expects the next command to find the
// stack free.
func Exited(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, task := range tasks {
		data, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		// The state follows the command name, which may hold spaces and parens.
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(fields) > 0 && fields[0] != "Z" && fields[0] != "X" {
			return false
		}
	}
	return true
}
