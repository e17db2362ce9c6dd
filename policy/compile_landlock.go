package policy

import (
	"fmt"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Landlock access rights, named as go-landlock and the kernel's LANDLOCK_ACCESS_FS_* are.
var (
	fsRead  = []string{"execute", "read_file", "read_dir"}
	fsWrite = []string{"write_file", "remove_dir", "remove_file", "make_dir", "make_reg", "make_sock", "make_fifo", "make_sym", "refer", "truncate"}
	// fsAll is every filesystem right up to ABI 5; what is not granted is denied.
	fsAll = append(append(append([]string{}, fsRead...), fsWrite...), "make_char", "make_block", "ioctl_dev")
)

// maxLandlockPorts bounds the per-port rules Landlock gets; wider ranges are left to
// nftables alone, and the Plan says so.
const maxLandlockPorts = 1024

// compileLandlock builds the Landlock ruleset, applied by restrictLandlock
// (sandbox/landlock_linux.go). Paths are as seen inside the sandbox, after pivot_root.
func compileLandlock(c *Component, cp *plan.Component) {
	ll := plan.Landlock{
		HandledFS: sorted(fsAll),
		Scoped:    []string{"abstract_unix_socket", "signal"},
	}
	readWrite := sorted(append(append([]string{}, fsRead...), fsWrite...))
	for _, p := range c.Filesystem.Read {
		ll.Paths = append(ll.Paths, plan.PathRule{Path: p, Access: sorted(fsRead), Why: c.origin("filesystem.read", p)})
	}
	for _, p := range c.Filesystem.Write {
		ll.Paths = append(ll.Paths, plan.PathRule{Path: p, Access: readWrite, Why: c.origin("filesystem.write", p)})
	}
	for _, p := range c.Filesystem.Tmpfs {
		ll.Paths = append(ll.Paths, plan.PathRule{Path: p, Access: readWrite, Why: c.origin("filesystem.tmpfs", p)})
	}
	ll.Paths = append(ll.Paths, bindRules(c)...)
	ll.Paths = append(ll.Paths,
		plan.PathRule{Path: "/proc", Access: []string{"read_dir", "read_file"}, Why: "built-in: the sandbox's own /proc"},
		plan.PathRule{Path: "/dev", Access: []string{"ioctl_dev", "read_dir", "read_file", "write_file"}, Why: "built-in: a minimal /dev (null, zero, random, tty)"},
		plan.PathRule{Path: "/dev/shm", Access: readWrite, Why: "built-in: POSIX shared memory"}) // shm_open creates files here
	sort.SliceStable(ll.Paths, func(i, j int) bool { return ll.Paths[i].Path < ll.Paths[j].Path })

	var bind, connect []PortRange
	for _, l := range c.Network.Listen {
		if pr := l.ports.v; pr.Proto == "tcp" {
			bind = append(bind, pr)
			// A component may call its own ports over loopback; Landlock cannot tell
			// loopback from the bridge, and nftables still filters the bridge.
			connect = append(connect, pr)
		}
	}
	for _, conn := range c.Network.Connect {
		if ep := conn.to.v; ep.Ports.Proto == "tcp" {
			connect = append(connect, ep.Ports)
		}
	}
	for _, x := range []struct {
		right  string
		ranges []PortRange
		ports  *[]uint16
	}{{"bind_tcp", bind, &ll.BindTCP}, {"connect_tcp", connect, &ll.ConnectTCP}} {
		ports, ok := landlockPorts(x.ranges)
		if !ok {
			ll.Notes = append(ll.Notes, fmt.Sprintf("%s: more than %d ports declared; nftables alone enforces them", x.right, maxLandlockPorts))
			continue
		}
		*x.ports = ports
		ll.HandledNet = append(ll.HandledNet, x.right)
	}
	cp.Landlock = ll
	cp.Requires = append(cp.Requires,
		plan.Requirement{Mechanism: "landlock", MinABI: 1, Why: "filesystem rules"},
		plan.Requirement{Mechanism: "landlock", MinABI: 2, Why: "the refer right (moving files between directories)"},
		plan.Requirement{Mechanism: "landlock", MinABI: 3, Why: "the truncate right"},
		plan.Requirement{Mechanism: "landlock", MinABI: 4, Why: "TCP bind and connect rules"},
		plan.Requirement{Mechanism: "landlock", MinABI: 5, Why: "the ioctl_dev right on devices"},
		plan.Requirement{Mechanism: "landlock", MinABI: 6, Why: "abstract unix socket and signal scoping"})
}

// landlockPorts expands ranges into the sorted, distinct ports Landlock rules name; past
// maxLandlockPorts it gives up, and the right is then not handled by Landlock.
func landlockPorts(ranges []PortRange) ([]uint16, bool) {
	seen := map[uint16]bool{}
	ports := []uint16{}
	for _, r := range ranges {
		for p := int(r.First); p <= int(r.Last); p++ {
			if !seen[uint16(p)] {
				seen[uint16(p)] = true
				ports = append(ports, uint16(p))
			}
			if len(ports) > maxLandlockPorts {
				return nil, false
			}
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	return ports, true
}
