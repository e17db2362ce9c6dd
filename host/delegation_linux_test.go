package host

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProbeDelegation: a cgroup whose directory and control files belong to the user is
// delegated; one whose subtree_control does not is not; no "0::" line, no cgroup.
func TestProbeDelegation(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "user.slice/user-1000.slice/user@1000.service/app.slice/x.scope")
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	self := filepath.Join(root, "self")
	os.WriteFile(self, []byte("1:name=systemd:/\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope\n"), 0o644)
	me := os.Geteuid()
	if path, ok := probeDelegation(root, self, me); !ok || path != "/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope" {
		t.Errorf("own cgroup: %q, delegated %v; want the scope, delegated", path, ok)
	}
	if _, ok := probeDelegation(root, self, me+1); ok {
		t.Errorf("a cgroup owned by uid %d counts as delegated to uid %d", me, me+1)
	}
	os.Remove(filepath.Join(dir, "cgroup.subtree_control"))
	if _, ok := probeDelegation(root, self, me); ok {
		t.Errorf("a cgroup without cgroup.subtree_control counts as delegated")
	}
	os.WriteFile(self, []byte("1:name=systemd:/\n"), 0o644)
	if path, ok := probeDelegation(root, self, me); path != "" || ok {
		t.Errorf("no v2 line: %q, %v", path, ok)
	}
}
