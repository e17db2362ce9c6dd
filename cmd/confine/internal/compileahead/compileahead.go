// Package compileahead compiles the policy of `confine run FILE` while the last of the
// binary's packages initialise: its init runs as soon as package policy's has, and the
// compile runs on another core beside the inits that follow (the network, cgroup and
// image libraries, cobra) and beside cobra's parse of the command line. It is the
// compile run would make a moment later, by the same calls, without an image store:
// run takes it (Take) only for the file cobra then names, and only when it succeeded;
// anything else, a policy with run.image or with errors to list, is compiled again by
// run itself.
package compileahead

import (
	"os"
	"strings"

	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// ahead is the compile started by init, or nil.
var ahead *early

type early struct {
	file string
	done chan struct{}
	p    *plan.Plan // nil when the compile failed
}

func init() { start(os.Args) }

// start begins the compile for the command line args, if it runs a policy file.
func start(args []string) {
	file := policyArg(args)
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
		e.p = compile(file)
	}()
}

// compile is Compile with no image resolver, run's program store and run's kept Plans,
// or nil when it fails.
func compile(file string) *plan.Plan {
	p, err := plancache.Compile(plancache.Open(), file, nil, Programs())
	if err != nil {
		return nil
	}
	return p
}

// Compile loads FILE once, through a policy.Tree on its directory, and compiles it with
// r for run.image and programs (nil: none) for the seccomp programs. It is how every
// command compiles a policy that has no errors (cmd/confine's compilePolicyWith), so that
// a Plan compiled ahead is the one the command would have compiled; on an error the
// command lists them all itself.
func Compile(file string, r policy.ImageResolver, programs policy.ProgramStore) (*plan.Plan, error) {
	return plancache.Compile(nil, file, r, programs)
}

// Programs is the store of the commands that start components (run, up, learn): root's
// kept seccomp programs, or nil. The commands a reviewer runs compile without one.
func Programs() policy.ProgramStore {
	if s := progcache.Open(); s != nil {
		return s
	}
	return nil
}

// Take returns the Plan that init compiled from file, waiting for a compile still
// running, or ok false when there is none: another file, a failed compile, or one
// already taken.
func Take(file string) (p *plan.Plan, ok bool) {
	e := ahead
	if e == nil || e.file != file {
		return nil, false
	}
	ahead = nil
	<-e.done
	return e.p, e.p != nil
}

// policyArg is FILE of a command line "confine run FILE …", or "". It guesses ahead of
// cobra only in that simplest form (FILE right after run); a wrong guess costs a
// compile that Take then refuses.
func policyArg(args []string) string {
	if len(args) < 3 || args[1] != "run" || args[2] == "" || strings.HasPrefix(args[2], "-") {
		return ""
	}
	return args[2]
}
