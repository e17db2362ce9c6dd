package sandbox

import (
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// TestV1Subsystems: the controllers made by their constructors are those cgroup1.Default
// would have kept, at the same paths.
func TestV1Subsystems(t *testing.T) {
	all, err := cgroup1.Default()
	if err != nil {
		t.Skipf("no v1 hierarchies (a v2-only host, where no start makes a v1 cgroup: not a gap CI hides): %v", err)
	}
	wanted := []cgroup1.Name{cgroup1.Freezer, cgroup1.Memory, cgroup1.Pids, cgroup1.Cpu}
	got, err := v1Subsystems(wanted)
	if err != nil {
		t.Fatal(err)
	}
	paths := func(subs []cgroup1.Subsystem) (ps []string) {
		for _, s := range subs {
			if p, ok := s.(interface{ Path(string) string }); ok && slices.Contains(wanted, s.Name()) {
				ps = append(ps, string(s.Name())+"="+p.Path("/x"))
			}
		}
		slices.Sort(ps)
		return ps
	}
	if g, w := paths(got), paths(all); !slices.Equal(g, w) {
		t.Fatalf("v1Subsystems: %v, Default kept %v", g, w)
	}
	if _, err := v1Subsystems([]cgroup1.Name{cgroup1.Blkio}); err == nil {
		t.Fatal("a controller it has no constructor for was dropped without an error")
	}
}

// TestV1MountPointRetries: a mount table that could not be read once is read again at
// the next cgroup, rather than failing it and every later one.
func TestV1MountPointRetries(t *testing.T) {
	if _, err := cgroup1.Default(); err != nil {
		t.Skipf("no v1 hierarchies: %v", err)
	}
	saved := mountinfoPath
	mountinfoPath = t.TempDir() + "/gone"
	v1Mount.mu.Lock()
	kept := v1Mount.root
	v1Mount.root = ""
	v1Mount.mu.Unlock()
	if _, err := v1MountPoint(); err == nil {
		t.Fatal("a mount table that cannot be read: no error")
	}
	mountinfoPath = saved
	if root, err := v1MountPoint(); err != nil || (kept != "" && root != kept) {
		t.Fatalf("after the mount table is readable again: %q, %v; want %q", root, err, kept)
	}
}
