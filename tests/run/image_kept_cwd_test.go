//go:build linux

package run_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestImageKeptCwd: a policy given by a relative name whose run.image is a relative
// oci: path names the layout beside the working directory's policy. Two projects with
// the same policy bytes, each with its own image, run each its own: the Plan kept in
// one directory (with the index's hash) is not taken in the other, where the other
// image is not pulled yet (run pulls it), nor after. What keeps it: the absolute path
// of the policy, which the loader asks for (policyDir) and plancache notes; the image
// check alone (the index's hash, the ref as written) would take it.
func TestImageKeptCwd(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store, plans := filepath.Join(dir, "store"), filepath.Join(dir, "plans")
	src := []byte("version: 1\nname: motd\nrun: {image: oci:./img}\nsyscalls: {extends: default}\n")
	for _, p := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, p), 0o755)
		motdImage(t, filepath.Join(dir, p, "img"), "project "+p+"\n")
		os.WriteFile(filepath.Join(dir, p, "motd.yaml"), src, 0o644)
	}
	run := func(project string) string {
		t.Helper()
		cmd := exec.Command(confineBin, "run", "motd.yaml", "--", "cat:/etc/motd")
		cmd.Dir = filepath.Join(dir, project)
		cmd.Env = append(os.Environ(), "CONFINE_STORE="+store, "CONFINE_PLAN_CACHE="+plans)
		var out strings.Builder
		cmd.Stdout = &out
		code, stderr := exitOf(cmd)
		if code != 0 {
			t.Fatalf("run in %s: %d\n%s", project, code, stderr)
		}
		return results(out.String())["cat:/etc/motd"].Out
	}
	for i, p := range []string{"a", "a", "b", "a", "b"} {
		if got, want := run(p), "project "+p+"\n"; got != want {
			t.Errorf("run %d, in %s: /etc/motd %q, want %q (another project's image)", i, p, got, want)
		}
	}
}
