package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// fakeV1 makes a v1 layout in a directory of the test's, with memory, pids and
// cpu,cpuacct (cpu a symlink to it, as hosts co-mount them) but no freezer, and points
// v1MountPoint at a mount table naming it; both are restored after the test.
func fakeV1(t *testing.T) (root, mountinfo string) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "cgroup")
	for _, d := range []string{"memory", "pids", "cpu,cpuacct"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("cpu,cpuacct", filepath.Join(root, "cpu")); err != nil {
		t.Fatal(err)
	}
	mountinfo = filepath.Join(dir, "mountinfo")
	table := "25 1 0:22 / /proc rw - proc proc rw\n" +
		"36 25 0:31 / " + root + "/memory rw,nosuid shared:15 - cgroup cgroup rw,memory\n" +
		"37 25 0:32 / " + root + "/pids rw,nosuid shared:16 - cgroup cgroup rw,pids\n"
	if err := os.WriteFile(mountinfo, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	savedPath := mountinfoPath
	v1Mount.mu.Lock()
	savedRoot := v1Mount.root
	v1Mount.root = ""
	v1Mount.mu.Unlock()
	mountinfoPath = mountinfo
	t.Cleanup(func() {
		mountinfoPath = savedPath
		v1Mount.mu.Lock()
		v1Mount.root = savedRoot
		v1Mount.mu.Unlock()
	})
	return root, mountinfo
}

// subsystemPaths names each subsystem of wanted with its path for cgroup /x.
func subsystemPaths(subs []cgroup1.Subsystem, wanted []cgroup1.Name) (ps []string) {
	for _, s := range subs {
		if p, ok := s.(interface{ Path(string) string }); ok && slices.Contains(wanted, s.Name()) {
			ps = append(ps, string(s.Name())+"="+p.Path("/x"))
		}
	}
	slices.Sort(ps)
	return ps
}

// TestV1Subsystems: the controllers made by their constructors are those mounted, at
// the paths cgroup1's own constructors give under the mount table's cgroup directory
// (the symlinked cpu included, the missing freezer left out, as cgroup1.Default does);
// a controller it has no constructor for is an error, not a limit dropped. Where the
// host has v1 hierarchies, the choice is also Default's own.
func TestV1Subsystems(t *testing.T) {
	wanted := []cgroup1.Name{cgroup1.Freezer, cgroup1.Memory, cgroup1.Pids, cgroup1.Cpu}
	if all, err := cgroup1.Default(); err == nil {
		got, err := v1Subsystems(wanted)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := subsystemPaths(got, wanted), subsystemPaths(all, wanted); !slices.Equal(g, w) {
			t.Fatalf("on this host: v1Subsystems %v, Default kept %v", g, w)
		}
	}
	root, _ := fakeV1(t)
	got, err := v1Subsystems(wanted)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"cpu=" + root + "/cpu/x", "memory=" + root + "/memory/x", "pids=" + root + "/pids/x"}
	if g := subsystemPaths(got, wanted); !slices.Equal(g, want) {
		t.Fatalf("v1Subsystems: %v, want %v", g, want)
	}
	if _, err := v1Subsystems([]cgroup1.Name{cgroup1.Blkio}); err == nil {
		t.Fatal("a controller it has no constructor for was dropped without an error")
	}
}

// TestV1MountPointRetries: a mount table that could not be read once is read again at
// the next cgroup, rather than failing it and every later one.
func TestV1MountPointRetries(t *testing.T) {
	root, mountinfo := fakeV1(t)
	mountinfoPath = filepath.Join(t.TempDir(), "gone")
	if _, err := v1MountPoint(); err == nil {
		t.Fatal("a mount table that cannot be read: no error")
	}
	mountinfoPath = mountinfo
	if got, err := v1MountPoint(); err != nil || got != root {
		t.Fatalf("after the mount table is readable again: %q, %v; want %q", got, err, root)
	}
}
