package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup1"
	"golang.org/x/sys/unix"
)

// v1Subsystems are the wanted controllers of the v1 hierarchies, those this host has,
// made by cgroup1's own constructors. cgroup1.Default makes all thirteen to keep these
// few: it reads the huge page sizes and the user namespace's map on every call, 0.36 ms
// of CPU in each start on this host (docs/BENCHMARKS.md).
func v1Subsystems(wanted []cgroup1.Name) ([]cgroup1.Subsystem, error) {
	root, err := v1MountPoint()
	if err != nil {
		return nil, err
	}
	var subs []cgroup1.Subsystem
	for _, name := range wanted {
		var s cgroup1.Subsystem
		switch name {
		case cgroup1.Freezer:
			s = cgroup1.NewFreezer(root)
		case cgroup1.Memory:
			s = cgroup1.NewMemory(root)
		case cgroup1.Pids:
			s = cgroup1.NewPids(root)
		case cgroup1.Cpu:
			s = cgroup1.NewCpu(root)
		default: // newCgroup1 wants no other
			return nil, fmt.Errorf("cgroup v1: no %s controller here", name)
		}
		// As Default, only the hierarchies that are mounted.
		if p, ok := s.(interface{ Path(string) string }); ok {
			if _, err := os.Lstat(p.Path("/")); err == nil {
				subs = append(subs, s)
			}
		}
	}
	return subs, nil
}

// v1MountPoint is where the v1 hierarchies are mounted, found as cgroup1.Default finds
// it: the directory of the first cgroup mount in the mount table. Kept once found: the
// hierarchies do not move while confine runs. An error is not kept: a stack's
// supervisor that once failed to read the table (EMFILE) would fail every later start.
func v1MountPoint() (string, error) {
	v1Mount.mu.Lock()
	defer v1Mount.mu.Unlock()
	if v1Mount.root == "" && mountinfoPath == hostMountinfo && isCgroup1("/sys/fs/cgroup/memory") {
		// systemd's layout, every v1 host's: one statfs instead of reading and
		// splitting the mount table (1% of a lone run's CPU, docs/BENCHMARKS.md,
		// session 22). Any other finds the table's answer.
		v1Mount.root = "/sys/fs/cgroup"
	}
	if v1Mount.root == "" {
		root, err := readV1MountPoint(mountinfoPath)
		if err != nil {
			return "", err
		}
		v1Mount.root = root
	}
	return v1Mount.root, nil
}

var v1Mount struct {
	mu   sync.Mutex
	root string
}

// mountinfoPath is the mount table v1MountPoint reads (a test's other file).
var mountinfoPath = hostMountinfo

const hostMountinfo = "/proc/self/mountinfo"

// isCgroup1 reports whether dir is a v1 hierarchy's mount.
func isCgroup1(dir string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(dir, &fs) == nil && fs.Type == unix.CGROUP_SUPER_MAGIC
}

func readV1MountPoint(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), " ")
		if n := len(fields); n >= 10 && fields[n-3] == "cgroup" {
			return filepath.Dir(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", cgroup1.ErrMountPointNotExist
}
