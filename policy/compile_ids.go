package policy

import "github.com/confine-sandbox/confine/policy/plan"

// compileIDs states the component's identity needs: all 65,536 ids of its own range (the
// host side is chosen at apply time, sandbox/ids_linux.go), its supplementary groups as
// written (names resolve in the sandbox, sandbox/groups_linux.go), and the sysctls of
// its own namespaces.
func compileIDs(c *Component, cp *plan.Component) {
	cp.UIDMap = []plan.IDMap{{ContainerID: 0, Size: idRangeSize}}
	cp.GIDMap = []plan.IDMap{{ContainerID: 0, Size: idRangeSize}}
	cp.Process.Groups = append([]string(nil), c.Run.Groups...)
	cp.Sysctls = compileSysctls()
}

// compileSysctls: low ports need no NET_BIND_SERVICE in the component's own network
// namespace, as Docker does (moby#41030); nftables and Landlock decide which ports it
// may bind.
func compileSysctls() []plan.Sysctl {
	return []plan.Sysctl{{Key: "net.ipv4.ip_unprivileged_port_start", Value: "0",
		Why: "the component's own network namespace: network.listen, nftables and Landlock decide its ports"}}
}
