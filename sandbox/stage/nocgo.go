//go:build !cgo || !linux

package stage

// Linked is false without cgo: the binary has no C stage, and the Go init runs.
const Linked = false

// Early is -1, 0: without the C stage there is no early spawner.
func Early() (fd, pid int) { return -1, 0 }

// PairedFull is false without the C stage: no binary is paired with this one.
func PairedFull(int) bool { return false }
