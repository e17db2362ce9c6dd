package sandbox

// setFallbackRlimits sets the rlimits that stand in for skipped cgroup limits, as the
// last step before seccomp: RLIMIT_DATA counts mapped address space, not memory used,
// and the init stage's Go runtime maps ahead (45 MB for the small probe), so a limit set
// earlier would end the init stage instead of bounding the component; RLIMIT_NPROC would
// stop its runtime's threads. Lowering a limit needs no capability, so it can wait.
func setFallbackRlimits(cfg *initConfig) error { return applyRlimits(cfg.FallbackRlimits) }
