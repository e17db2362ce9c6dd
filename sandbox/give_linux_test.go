package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestGiveFollowsNoSymlink: the Go init gives a path to the resolved ids as the C stage
// does (TestStageUserOpFailsClosed): a symlink on the way is refused and its target keeps
// its owner; a last component that is a link is given itself; the words are lchown's.
func TestGiveFollowsNoSymlink(t *testing.T) {
	testenv.Require(t, testenv.Root)
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(base, "victim")
	os.Mkdir(victim, 0o755)
	os.Mkdir(filepath.Join(victim, "upper"), 0o755)
	os.Symlink(victim, filepath.Join(base, "link"))
	os.Symlink(victim, filepath.Join(base, "lastlink"))
	via := filepath.Join(base, "link", "upper")
	if err := give(via, 4321, 4322); fmt.Sprint(err) != "lchown "+via+": too many levels of symbolic links" {
		t.Errorf("through a symlink: %v", err)
	}
	if err := give(filepath.Join(base, "none"), 4321, 4322); fmt.Sprint(err) != "lchown "+filepath.Join(base, "none")+": no such file or directory" {
		t.Errorf("a missing path: %v", err)
	}
	if err := give(filepath.Join(base, "lastlink"), 4321, 4322); err != nil {
		t.Errorf("a last symlink: %v", err)
	}
	for p, want := range map[string]string{filepath.Join(victim, "upper"): "0:0", victim: "0:0", filepath.Join(base, "lastlink"): "4321:4322"} {
		var st unix.Stat_t
		if unix.Lstat(p, &st); fmt.Sprintf("%d:%d", st.Uid, st.Gid) != want {
			t.Errorf("%s is %d:%d, want %s", p, st.Uid, st.Gid, want)
		}
	}
	if err := give(filepath.Join(victim, "upper"), 4321, 4322); err != nil {
		t.Errorf("a plain directory: %v", err)
	}
}
