package host

import (
	"os"
	"sort"
	"strconv"
	"strings"

	cgroups "github.com/containerd/cgroups/v3"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// wanted are the cgroup controllers confine's resource limits use.
var wanted = []string{"cpu", "memory", "pids"}

// Probe reads the running kernel's facts. It changes nothing and needs no privilege.
func Probe() Facts {
	f := Facts{Root: os.Geteuid() == 0}
	if abi, err := llsys.LandlockGetABIVersion(); err == nil {
		f.LandlockABI = abi
	}
	f.CgroupMode, f.Controllers = probeCgroups()
	if f.CgroupMode == "v2" {
		f.OwnCgroup, f.CgroupDelegated = probeDelegation("/sys/fs/cgroup", "/proc/self/cgroup", os.Geteuid())
	}
	if fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER); err == nil {
		unix.Close(fd)
		f.Nftables = true
	}
	if data, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil {
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		f.UserNamespaces = n > 0
	}
	if data, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		f.SeccompActions = strings.Fields(string(data))
	}
	return f
}

// probeCgroups names the hierarchy containerd/cgroups sees and the usable controllers:
// on v2 those the root's cgroup.controllers lists; on v1 and hybrid hosts those with a
// v1 hierarchy mounted (the hybrid v2 mount holds none).
func probeCgroups() (string, []string) {
	var mode string
	switch cgroups.Mode() {
	case cgroups.Unified:
		mode = "v2"
	case cgroups.Hybrid:
		mode = "hybrid"
	case cgroups.Legacy:
		mode = "v1"
	default:
		return "", nil
	}
	var found []string
	if mode == "v2" {
		data, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		for _, c := range strings.Fields(string(data)) {
			found = append(found, c)
		}
	} else {
		for _, c := range wanted {
			if _, err := os.Stat("/sys/fs/cgroup/" + c); err == nil {
				found = append(found, c)
			}
		}
	}
	var out []string
	for _, c := range found {
		for _, w := range wanted {
			if c == w {
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return mode, out
}
