package supervisor

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
)

// LogDir is where a stack's component logs are kept: in a logs directory beside its
// audit log (/var/log/confine/NAME/logs by default), so they outlive down and a
// restarted supervisor appends to them; in the state directory when there is no audit log.
func LogDir(stateDir, auditLog string) string {
	if auditLog == "" {
		return filepath.Join(stateDir, "logs")
	}
	return filepath.Join(filepath.Dir(auditLog), "logs")
}

// ReadLogFile reads a component's kept log, the rotated file first, for `confine logs`
// once the stack is down; tail > 0 keeps the last tail lines. A line that does not
// parse (a torn last write) is skipped.
func ReadLogFile(dir, component string, tail int) ([]LogLine, error) {
	var out []LogLine
	found := false
	for _, p := range []string{filepath.Join(dir, component+".log.1"), filepath.Join(dir, component+".log")} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l LogLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				out = append(out, l)
			}
		}
		f.Close()
	}
	if !found {
		return nil, os.ErrNotExist
	}
	if tail > 0 && len(out) > tail {
		out = out[len(out)-tail:]
	}
	return out, nil
}
