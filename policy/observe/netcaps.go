package observe

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// PortDenied reports whether Landlock's TCP rules would have refused c, a bind or a
// connect of a TCP (or MPTCP) socket: the right is handled and the port is not listed.
// UDP and unix sockets are nftables' and the filesystem's to judge.
func PortDenied(ll plan.Landlock, c Call) bool {
	s := c.Sock
	if s == nil || s.Family == "unix" || s.Proto != "tcp" && s.Proto != "mptcp" {
		return false
	}
	right, ports := "connect_tcp", ll.ConnectTCP
	if c.Syscall == "bind" {
		right, ports = "bind_tcp", ll.BindTCP
	}
	return slices.Contains(ll.HandledNet, right) && !slices.Contains(ports, s.Port)
}

// CapUse is a capability an observed call needed, and from what that was inferred.
type CapUse struct {
	Capability   string `json:"capability"` // CAP_NET_BIND_SERVICE
	InferredFrom string `json:"inferred_from"`
}

// CapabilityUsed infers the capability c needed, if any: the kernel logs no capability
// checks. unprivStart is the namespace's net.ipv4.ip_unprivileged_port_start (1024 by
// default). Only what the arguments show is inferred: a bind below it needs
// CAP_NET_BIND_SERVICE; a set*id call to an id the process does not already hold needs
// CAP_SETUID or CAP_SETGID (setgroups always CAP_SETGID); a chown to another owner, or
// to a group the caller is not in, CAP_CHOWN. Checks made inside other calls (a read
// that DAC_OVERRIDE let through, a kill of another user's process) are not seen.
func CapabilityUsed(c Call, unprivStart int) *CapUse {
	switch c.Syscall {
	case "bind":
		if s := c.Sock; s != nil && s.Family != "unix" && s.Port != 0 && int(s.Port) < unprivStart {
			return &CapUse{"CAP_NET_BIND_SERVICE", fmt.Sprintf("bind %s/%s", hostPort(s), or(s.Proto, s.Type))}
		}
	case "setgroups":
		return &CapUse{"CAP_SETGID", "setgroups"}
	case "setuid", "setreuid", "setresuid", "setgid", "setregid", "setresgid":
		if c.IDs == nil {
			return nil
		}
		n := map[string]int{"setuid": 1, "setgid": 1, "setreuid": 2, "setregid": 2}[c.Syscall]
		if n == 0 {
			n = 3
		}
		held, capName := c.IDs.UID, "CAP_SETUID"
		if strings.HasSuffix(c.Syscall, "gid") {
			held, capName = c.IDs.GID, "CAP_SETGID"
		}
		for i := 0; i < n; i++ {
			id := int32(uint32(c.Args[i]))
			if id != -1 && !slices.Contains(held[:], uint32(id)) {
				return &CapUse{capName, fmt.Sprintf("%s to %d", c.Syscall, id)}
			}
		}
	case "chown", "lchown", "fchown", "fchownat":
		return chownCap(c)
	}
	return nil
}

// chownCap: only CAP_CHOWN changes a file's owner, or sets a group the caller is not in.
func chownCap(c Call) *CapUse {
	if c.Owner == nil || c.IDs == nil {
		return nil
	}
	ui, gi := 1, 2
	if c.Syscall == "fchownat" {
		ui, gi = 2, 3
	}
	uid, gid := int32(uint32(c.Args[ui])), int32(uint32(c.Args[gi]))
	what := c.Syscall
	if len(c.Paths) > 0 {
		what += " " + c.Paths[0]
	}
	if uid != -1 && int64(uid) != c.Owner[0] {
		return &CapUse{"CAP_CHOWN", fmt.Sprintf("%s to uid %d", what, uid)}
	}
	inGroup := uint32(gid) == c.IDs.GID[1] || slices.Contains(c.IDs.Groups, uint32(gid))
	if gid != -1 && int64(gid) != c.Owner[1] && !inGroup {
		return &CapUse{"CAP_CHOWN", fmt.Sprintf("%s to gid %d", what, gid)}
	}
	return nil
}

// CapDeclared reports whether the policy's capability sets (the Plan's Capabilities,
// which audit mode keeps) hold name, "CAP_X" or "X".
func CapDeclared(caps plan.Capabilities, name string) bool {
	if len(name) > 4 && name[:4] == "CAP_" {
		name = name[4:]
	}
	return slices.Contains(caps.Permitted, name)
}

// UnprivilegedPortStart is the component's net.ipv4.ip_unprivileged_port_start: what
// its Plan sets, or the kernel's default, 1024.
func UnprivilegedPortStart(c *plan.Component) int {
	for _, s := range c.Sysctls {
		if s.Key == "net.ipv4.ip_unprivileged_port_start" {
			if n, err := strconv.Atoi(s.Value); err == nil {
				return n
			}
		}
	}
	return 1024
}

func hostPort(s *Sock) string {
	if s.Family == "inet6" {
		return "[" + s.Addr + "]:" + strconv.Itoa(int(s.Port))
	}
	return s.Addr + ":" + strconv.Itoa(int(s.Port))
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
