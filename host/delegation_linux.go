package host

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// probeDelegation reads, on a cgroup v2 host, this process's own cgroup (the "0::" line
// of selfCgroup, /proc/self/cgroup) and whether it is delegated to euid: systemd
// delegates a unit (Delegate=yes, as a user's systemd does for user@.service) by giving
// the user its directory, cgroup.procs and cgroup.subtree_control, so that the user may
// make cgroups beneath it, move its processes into them and enable controllers there.
func probeDelegation(root, selfCgroup string, euid int) (path string, delegated bool) {
	data, err := os.ReadFile(selfCgroup)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", false
	}
	dir := filepath.Join(root, path)
	for _, f := range []string{dir, filepath.Join(dir, "cgroup.procs"), filepath.Join(dir, "cgroup.subtree_control")} {
		fi, err := os.Stat(f)
		if err != nil {
			return path, false
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != euid {
			return path, false
		}
	}
	return path, true
}
