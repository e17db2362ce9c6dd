//go:build !confine_slim

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/supervisor"
)

// lineShower prints log lines: escaped when out is a terminal (a component's output
// must not drive it) unless raw, as written otherwise, so a pipe or a file gets the
// component's bytes, carriage returns included.
func lineShower(out io.Writer, timestamps, raw bool) func(supervisor.LogLine) {
	escape := !raw && isTerminal(out)
	return func(l supervisor.LogLine) {
		line := l.Line
		if escape {
			line = printable(line)
		}
		if timestamps {
			fmt.Fprintf(out, "%s %s\n", l.Time.Format(time.RFC3339Nano), line)
		} else {
			fmt.Fprintln(out, line)
		}
	}
}

// isTerminal reports whether w is a terminal (a tty, not merely a character device such
// as /dev/null): progress bars and control-character escaping are for people.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// keptLogs prints the log a stack that is down left beside its audit log.
func keptLogs(arg, component, dir string, tail int, show func(supervisor.LogLine)) error {
	name, err := stackName(arg)
	if err != nil {
		return err
	}
	if dir == "" {
		dir = filepath.Join(filepath.Dir(defaultAuditLog(name)), "logs")
	}
	lines, err := supervisor.ReadLogFile(dir, component, tail)
	if os.IsNotExist(err) {
		return fmt.Errorf("%w: %s, and no log of %s is kept in %s (--log-dir names another directory)", supervisor.ErrNotRunning, name, component, dir)
	}
	if err != nil {
		return err
	}
	for _, l := range lines {
		show(l)
	}
	return nil
}

func notRunning(err error) bool { return errors.Is(err, supervisor.ErrNotRunning) }
