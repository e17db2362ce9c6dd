//go:build linux

package run_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestImageWithoutUpper: an image run with no write path has an overlay of the store's
// layers alone, no upper, under the C stage and the Go init alike: it reads the top
// layer's files as its user, its mount points (/proc, which the image lacks, from the
// store's layer of them) are there, it can write nowhere in its root, and it leaves no
// run dir nor reference. The same image with a write path still gets its upper.
func TestImageWithoutUpper(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	probeImage(t, filepath.Join(dir, "img"))
	ro, rw := filepath.Join(dir, "ro.yaml"), filepath.Join(dir, "rw.yaml")
	os.WriteFile(ro, []byte("version: 1\nname: imgro\nrun: {image: oci:./img}\nfilesystem: {tmpfs: [/tmp]}\nsyscalls: {extends: default}\n"), 0o644)
	os.WriteFile(rw, []byte("version: 1\nname: imgrw\nrun: {image: oci:./img}\nfilesystem: {write: [/scratch]}\nsyscalls: {extends: default}\n"), 0o644)
	if code, out, errOut := confine(t, store, "pull", "oci:"+filepath.Join(dir, "img")); code != 0 {
		t.Fatalf("pull: %d\n%s\n%s", code, out, errOut)
	}
	rootLine := func(mountinfo string) string {
		for _, l := range strings.Split(mountinfo, "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == "/" {
				return l
			}
		}
		return ""
	}
	for _, mode := range []string{"c", "go"} {
		code, out, stderr := runStaged(t, store, mode, "run", ro, "--", "cat:/etc/motd", "id:", "cwd:", "ls:/proc/self/fd",
			"write:/newfile", "write:/srv/x", "write:/tmp/x", "cat:/proc/self/mountinfo")
		if code != 0 {
			t.Fatalf("%s: run: %d\n%s\n%s", mode, code, out, stderr)
		}
		checkStageTaken(t, mode, stderr)
		res := results(out)
		want := map[string]bool{"cat:/etc/motd": true, "ls:/proc/self/fd": true, "write:/newfile": false, "write:/srv/x": false,
			"write:/tmp/x": true, "cat:/proc/self/mountinfo": true}
		for probe, ok := range want {
			if res[probe].OK != ok {
				t.Errorf("%s: %s: ok=%v, want %v (%s)", mode, probe, res[probe].OK, ok, res[probe].Err)
			}
		}
		if got := res["cat:/etc/motd"].Out; got != "layer two\n" {
			t.Errorf("%s: /etc/motd reads %q, want the top layer's", mode, got)
		}
		if got := res["id:"].Out + " " + res["cwd:"].Out; got != "1000:1001 /srv" {
			t.Errorf("%s: id and cwd %q, want the image's user app and WorkingDir", mode, got)
		}
		if root := rootLine(res["cat:/proc/self/mountinfo"].Out); !strings.Contains(root, " overlay ") || strings.Contains(root, "upperdir") {
			t.Errorf("%s: the root is %q, want an overlay without an upper", mode, root)
		}
		if left, _ := filepath.Glob(filepath.Join(store, "r*s", "*")); len(left) != 0 {
			t.Errorf("%s: the run left %v", mode, left)
		}
	}
	code, out, stderr := runStaged(t, store, "c", "run", rw, "--", "write:/scratch/x", "cat:/proc/self/mountinfo")
	res := results(out)
	if code != 0 || !res["write:/scratch/x"].OK || !strings.Contains(rootLine(res["cat:/proc/self/mountinfo"].Out), "upperdir") {
		t.Errorf("a run with a write path: %d %v\n%s", code, res, stderr)
	}
}
