package sandbox

import (
	"os"
	"sync"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// EarlySpawner is the lone run's spawner, which the C constructor forked before the Go
// runtime started (stage/stage_early.c) for `confine run` as root, with its spare cloned
// already; nil when there is none. Each call returns the same one. It serves one request,
// its last: Start closes it once it has served it, or before an exec.Cmd start that does
// not use it; whoever has not started through it closes it (Close), which reaps it.
var EarlySpawner = sync.OnceValue(func() *Spawner {
	fd, pid := stage.Early()
	if fd < 0 {
		return nil
	}
	return &Spawner{sock: os.NewFile(uintptr(fd), "spawner"), pid: pid, last: true, early: true}
})
