// Package memtrim gives back, once a supervisor has launched what it supervises, the
// memory its start-up needed and its waiting does not: free heap, and the pages of its
// own binary that package inits, the compile and the launch touched.
package memtrim

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// Delay is how long after the last launch a supervisor trims: a component that exits
// sooner (a short run, a crash loop) does not wait for it.
const Delay = time.Second

// again is how long a trim holds before a garbage collection may bring the next. The
// runtime collects every two minutes even when nothing allocates, and a collection
// touches much of the runtime's code and of the pclntab (1.7 MiB of the binary back,
// measured): each collection that comes this long after the last trim is trimmed after,
// once collections have paused for Delay. A busy supervisor, which collects often, is
// trimmed at most this often.
var again = time.Minute

// How the first trim cuts the read-only mappings of the binary and its libraries.
const (
	// Pieces cuts them into VMAs of 16 KiB, so that a page touched later maps back 16 KiB
	// and not its whole folio (up to 2 MiB), for a supervisor that once trimmed only
	// waits: a lone run.
	Pieces = 16 << 10
	// Whole leaves them whole, for a supervisor that spawns again: a stack's, on a
	// restart. A spawn clones the supervisor, which copies every VMA, and the child's exec
	// tears them down: with the pieces (about 1400) a fork and exit took 1 ms more,
	// measured, on the restart's critical path.
	Whole = 0
)

var (
	mu      sync.Mutex
	timer   *time.Timer
	piece   int       // what After was last told
	last    time.Time // when the last trim began
	trims   int       // how many have run, for the tests
	watched sync.Once
)

// After calls Trim once d has passed since the last call of After: a supervisor calls it
// after each launch, and a burst of launches (a stack coming up, a restart loop) is
// trimmed once, after the last, off the launches' path. size is Pieces or Whole.
func After(d time.Duration, size int) {
	if v, err := time.ParseDuration(os.Getenv("CONFINE_TRIM_DELAY")); err == nil {
		d = v // the suites run again with the trim at once, so that all a supervisor does comes after one
	}
	mu.Lock()
	defer mu.Unlock()
	piece = size
	if timer == nil {
		timer = time.AfterFunc(d, trimNow)
		return
	}
	timer.Reset(d)
}

func trimNow() {
	mu.Lock()
	last = time.Now() // before Trim: its own collection brings no other
	trims++
	size := piece
	mu.Unlock()
	trim(size)
	watched.Do(watchCollections)
}

// sentinel is a pointer-holding type, so that its values are not batched by the tiny
// allocator (whose cleanups may never run).
type sentinel struct{ _ *byte }

// watchCollections arms a cleanup that runs after the next garbage collection and arms
// the next one.
func watchCollections() {
	runtime.AddCleanup(new(sentinel), func(struct{}) { collected() }, struct{}{})
}

func collected() {
	watchCollections()
	mu.Lock()
	due := time.Since(last) >= again
	mu.Unlock()
	if due {
		mu.Lock()
		size := piece
		mu.Unlock()
		After(Delay, size)
	}
}
