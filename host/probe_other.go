//go:build !linux

package host

// Probe reports nothing outside Linux: every mechanism is missing, so preflight refuses.
func Probe() Facts { return Facts{} }
