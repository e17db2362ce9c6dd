// Package host describes what the running kernel offers confine: the Landlock ABI, the
// cgroup hierarchy and its controllers, nftables, user namespaces and seccomp actions.
// Facts are read once by Probe (probe_linux.go) and compared with a Plan's requirements
// by sandbox.Preflight, so compile never depends on the machine it runs on.
package host

// Facts is what Probe found. The zero value is a kernel with none of it.
type Facts struct {
	// LandlockABI is the highest Landlock ABI the kernel reports; 0 when Landlock is
	// missing or disabled.
	LandlockABI int `json:"landlock_abi"`
	// CgroupMode is "v2" (unified), "hybrid" (v1 controllers and a v2 mount), "v1" or "".
	CgroupMode string `json:"cgroup_mode"`
	// Controllers are the cgroup controllers confine can use (cpu, memory, pids), sorted.
	Controllers []string `json:"controllers"`
	// Nftables reports whether the kernel answers on the nfnetlink socket.
	Nftables bool `json:"nftables"`
	// UserNamespaces reports whether new user namespaces may be created.
	UserNamespaces bool `json:"user_namespaces"`
	// SeccompActions are the filter return actions the kernel supports (errno, log, …).
	SeccompActions []string `json:"seccomp_actions"`
	// Root reports whether confine runs with uid 0 in the initial user namespace.
	Root bool `json:"root"`
	// OwnCgroup is, on a v2 host, this process's cgroup; CgroupDelegated says whether it
	// is delegated to the process's user (delegation_linux.go).
	OwnCgroup       string `json:"own_cgroup,omitempty"`
	CgroupDelegated bool   `json:"cgroup_delegated,omitempty"`
}

// HasController reports whether the cgroup controller name is usable.
func (f Facts) HasController(name string) bool {
	for _, c := range f.Controllers {
		if c == name {
			return true
		}
	}
	return false
}

// HasSeccompAction reports whether the kernel supports a seccomp return action.
func (f Facts) HasSeccompAction(name string) bool {
	for _, a := range f.SeccompActions {
		if a == name {
			return true
		}
	}
	return false
}
