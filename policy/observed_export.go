package policy

import "slices"

// ObservedSyscalls are the syscalls audit mode watches with user notification when a
// policy allows them outright (compile_audit.go): confine learn allows them in its run,
// so that their paths, ports and ids are recorded, and learns them from those records.
func ObservedSyscalls() []string { return slices.Clone(observedSyscalls) }
