package plancache

import (
	"os"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/tree"
)

// ahead is the look-up started by init, or nil.
var ahead *early

type early struct {
	file string
	done chan struct{}
	p    *plan.Plan // nil: none kept
}

func init() { start(os.Args) }

// start looks up the kept Plan for the command line args, if it runs a policy file.
func start(args []string) {
	file := PolicyArg(args)
	if file == "" {
		return
	}
	// A pipe is read once, by run; Tree opens only regular files, but a FIFO must not
	// even be opened here.
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return
	}
	e := &early{file: file, done: make(chan struct{})}
	ahead = e
	go func() {
		defer close(e.done)
		c := Open()
		if c == nil {
			return
		}
		t, err := tree.Open(file)
		if err != nil {
			return
		}
		defer t.Close()
		e.p = c.Take(t, file)
	}()
}

// Ahead returns the Plan init took for file, waiting for a look-up still running, or ok
// false when there is none: another file, nothing kept, or one already returned.
func Ahead(file string) (p *plan.Plan, ok bool) {
	e := ahead
	if e == nil || e.file != file {
		return nil, false
	}
	ahead = nil
	<-e.done
	return e.p, e.p != nil
}

// PolicyArg is FILE of a command line "confine run FILE …", or "". It guesses ahead of
// cobra only in that simplest form (FILE right after run); a wrong guess costs a
// look-up, or a compile, that is then not taken.
func PolicyArg(args []string) string {
	if len(args) < 3 || args[1] != "run" || args[2] == "" || strings.HasPrefix(args[2], "-") {
		return ""
	}
	return args[2]
}
