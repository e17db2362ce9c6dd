// Package memtrim gives back, once a supervisor has launched what it supervises, the
// memory its start-up needed and its waiting does not: free heap, and the pages of its
// own binary that package inits, the compile and the launch touched.
package memtrim

import (
	"sync"
	"time"
)

// Delay is how long after the last launch a supervisor trims: a component that exits
// sooner (a short run, a crash loop) does not wait for it.
const Delay = time.Second

var (
	mu    sync.Mutex
	timer *time.Timer
)

// After calls Trim once d has passed since the last call of After: a supervisor calls it
// after each launch, and a burst of launches (a stack coming up, a restart loop) is
// trimmed once, after the last, off the launches' path.
func After(d time.Duration) {
	mu.Lock()
	defer mu.Unlock()
	if timer == nil {
		timer = time.AfterFunc(d, Trim)
		return
	}
	timer.Reset(d)
}
