//go:build cgo

package seccomp

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BuildLimit bounds one Build. libseccomp 2.5.4 never returns from seccomp_rule_add_array
// for some rule sets (two conditional allows of one syscall on different arguments,
// behind an always-true `ge 0`, added in the wrong order; review24). Build's order
// (addOrder) and validate (Mixes) keep every rule set confine compiles from it; the limit
// stays as the backstop, since a C thread that spins cannot be stopped: past it the
// process ends, saying which rule it was adding, instead of hanging a start, or a
// reviewer's `confine compile` or `audit diff`, forever. CONFINE_SECCOMP_BUILD_LIMIT (a duration) sets it; a normal build takes
// milliseconds, the largest rule sets validate allows a few seconds. Read at the first
// build, not at the package's init: most starts build nothing.
var BuildLimit = sync.OnceValue(func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CONFINE_SECCOMP_BUILD_LIMIT")); err == nil && d > 0 {
		return d
	}
	return time.Minute
})

// order is the order Build adds rules in: addOrder, which keeps libseccomp from the loop;
// TestBuildLimit takes the Plan's order to make it loop.
var order = addOrder

// adding is the syscalls of the rule Build is adding, for Stuck's message.
var adding atomic.Value

// watch starts the limit of one Build; stop it when the build returns.
func watch() (stop func() bool) {
	adding.Store("")
	limit := BuildLimit()
	t := time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "confine: seccomp: libseccomp did not build the filter within %s: it hangs on the conditional rules of %s (a libseccomp 2.5 fault); write those rules' conditions otherwise\n", limit, adding.Load())
		os.Exit(1) // the policy's fault: as a policy error; nothing is set up yet
	})
	return t.Stop
}

// nowAdding records the rule being added.
func nowAdding(syscalls []string) { adding.Store(strings.Join(syscalls, ", ")) }
