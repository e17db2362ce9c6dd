package testenv

import "github.com/confine-sandbox/confine/internal/proc"

// Exited reports whether every thread of pid has ended (none left, or each a zombie):
// a test that kills a supervisor waits for this before it expects the next command to
// find the stack free. It is the product's own test (sandbox.Gone).
func Exited(pid int) bool { return proc.Ended(pid) }
