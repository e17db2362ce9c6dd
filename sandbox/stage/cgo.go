//go:build cgo && linux

package stage

// The C files of this directory are the stage; their constructor runs in every start
// of a binary that links this package, and returns at once unless Marker is set.

// #cgo CFLAGS: -O2 -Wall -Wno-unused-result
// #include "stage.h"
import "C"

// Linked reports whether the C stage is in this binary.
const Linked = true

// Early is the lone run's early spawner, which the constructor forked (stage_early.c):
// its socket (close-on-exec) and pid; -1 and 0 when there is none.
func Early() (fd, pid int) { return int(C.confine_early_sock), int(C.confine_early_pid) }
