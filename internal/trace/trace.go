// Package trace times the steps of one run, for finding where start-up time goes. It is
// off unless CONFINE_TRACE=1 is set for the supervisor, which hands the flag and its
// clock origin to the init stage in the init config (that stage gets an empty
// environment). When on, each step prints one line to stderr:
//
//	confine-trace parent compile          5231 µs  @   5302 µs
//
// the step's duration and its end, from the origin. Both processes read the same
// clock (the wall clock, which a time namespace would not change either), so their lines
// fall on one time line. It is a diagnostic, like GODEBUG: the one place outside
// cmd/confine that prints, and only when asked.
package trace

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// origin is the clock reading every line counts from; 0 means tracing is off.
var origin int64

// FromEnv turns tracing on when CONFINE_TRACE=1, counting from now. A caller that
// sets CONFINE_TRACE_T0 to its clock reading (Now's units) just before the exec gets a
// "premain" line: the exec, the constructor and the runtime's start until main.
func FromEnv() {
	if os.Getenv("CONFINE_TRACE") == "1" {
		origin = Now()
		if t0, err := strconv.ParseInt(os.Getenv("CONFINE_TRACE_T0"), 10, 64); err == nil && t0 > 0 {
			Span("parent", "premain", t0, origin)
		}
	}
}

// Enable turns tracing on with another process's origin (the init stage takes its
// parent's). A zero origin leaves it off.
func Enable(o int64) { origin = o }

// Origin is the origin in use, 0 when tracing is off.
func Origin() int64 { return origin }

// On reports whether tracing is on.
func On() bool { return origin != 0 }

// Now reads the clock, in nanoseconds.
func Now() int64 { return time.Now().UnixNano() }

// Done prints who's step name, which began at start (a Now reading). It does nothing
// when tracing is off.
func Done(who, name string, start int64) { Span(who, name, start, Now()) }

// Span prints who's step name, from start to end (Now readings).
func Span(who, name string, start, end int64) {
	if origin == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "confine-trace %-6s %-18s %7d µs  @%7d µs\n", who, name, (end-start)/1000, (end-origin)/1000)
}
