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

// PairedFull reports whether the binary open on fd is the full binary this slim one was
// linked with (stage_slim.c's stage_paired_full: its Go build ID begins with this
// binary's GNU build ID).
func PairedFull(fd int) bool { return C.stage_paired_full(C.int(fd)) != 0 }
