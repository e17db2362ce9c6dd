//go:build !cgo || !linux

package stage

// Linked is false without cgo: the binary has no C stage, and the Go init runs.
const Linked = false
