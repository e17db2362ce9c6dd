//go:build linux && !cgo

package memtrim

// mallocTrim has nothing to do without cgo: there is no C heap.
func mallocTrim() {}
