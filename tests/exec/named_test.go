//go:build linux

package exec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestExecNamedUser: a component whose run.user is a name runs as the ids the name
// resolved to in its sandbox, and so does a command exec'd into it, not as uid 0 (the
// Plan's number for a name, which only the start resolves).
func TestExecNamedUser(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	dir := t.TempDir()
	const name = "execnamed"
	src := fmt.Sprintf("version: 1\nname: named\nrun:\n  command: [%s, \"id\", \"sleep:\"]\n  user: daemon\nfilesystem: {read: [%s, /etc/passwd, /etc/group]}\nsyscalls: {extends: default}\n",
		strconv.Quote(probe), probe)
	if err := os.WriteFile(filepath.Join(dir, "named.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stackSrc := fmt.Sprintf("version: 1\nname: %s\nsubnet: 10.121.9.0/24\ncomponents: [named.yaml]\n", name)
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(stackSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, bin, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", filepath.Join(dir, "audit.log"))
	t.Cleanup(func() {
		if _, alive := supervisor.Running(name); alive {
			testenv.Run(t, bin, "down", "--grace", "1s", name)
		}
	})
	out, errs, code := confineExec(t, name, "named", "--", probe, "id")
	if r := parse(out)["id"]; code != 0 || !r.OK || r.Out != "1:1" {
		t.Errorf("exec into a component run as daemon: exit %d, %+v (%s)", code, r, errs)
	}
}
