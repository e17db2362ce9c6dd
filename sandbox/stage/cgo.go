//go:build cgo && linux

package stage

// The C files of this directory are the stage; their constructor runs in every start
// of a binary that links this package, and returns at once unless Marker is set.

// #cgo CFLAGS: -O2 -Wall -Wno-unused-result
import "C"

// Linked reports whether the C stage is in this binary.
const Linked = true
