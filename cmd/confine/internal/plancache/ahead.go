package plancache

import (
	"os"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/tree"
)

// ahead is the look-up started by init, or nil.
var ahead *Early

func init() { start(os.Args) }

// start looks up the kept Plan for the command line args, if it runs a policy file.
func start(args []string) {
	ahead = StartEarly(args, func(file string) *plan.Plan {
		c := Open()
		if c == nil {
			return nil
		}
		c.StoreUnsure = storeAfter(args)
		t, err := tree.Open(file)
		if err != nil {
			return nil
		}
		defer t.Close()
		return c.Take(t, file)
	})
}

// Ahead returns the Plan init took for file, waiting for a look-up still running, or ok
// false when there is none: another file, nothing kept, or one already returned.
func Ahead(file string) (p *plan.Plan, ok bool) { return ahead.Take(file) }

// Early is a Plan for the FILE of `confine run FILE` (PolicyArg) that an init works out
// on another goroutine while the binary's start goes on, for the command to take once.
type Early struct {
	file  string
	done  chan struct{}
	p     *plan.Plan // nil: none
	taken bool
}

// StartEarly begins find(FILE) on another goroutine, or is nil when args run no policy
// file or one that is not a regular file.
func StartEarly(args []string, find func(file string) *plan.Plan) *Early {
	return StartEarlyFile(PolicyArg(args), find)
}

// StartEarlyFile is StartEarly for a FILE its caller found ("": none).
func StartEarlyFile(file string, find func(file string) *plan.Plan) *Early {
	if file == "" {
		return nil
	}
	// A pipe is read once, by run; Tree opens only regular files, but a FIFO must not
	// even be opened here.
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	e := &Early{file: file, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.p = find(file)
	}()
	return e
}

// Take returns e's Plan when it is for file, waiting for the goroutine, or ok false:
// no Early, another file, no Plan, or one already taken. One goroutine takes.
func (e *Early) Take(file string) (p *plan.Plan, ok bool) {
	if e == nil || e.file != file || e.taken {
		return nil, false
	}
	e.taken = true
	<-e.done
	p, e.p = e.p, nil
	return p, p != nil
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

// storeAfter reports whether a --store follows `run FILE`, where only cobra can tell
// which store the run reads.
func storeAfter(args []string) bool {
	for _, a := range args[min(3, len(args)):] {
		if a == "--store" || strings.HasPrefix(a, "--store=") {
			return true
		}
	}
	return false
}
