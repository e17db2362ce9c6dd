//go:build linux

package run_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/confine-sandbox/confine/tests/imagetest"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// motdImage writes an OCI layout at dir of the probe with /etc/motd reading motd.
func motdImage(t *testing.T, dir, motd string) {
	t.Helper()
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagetest.Image(v1.Config{Entrypoint: []string{"/probe"}}, []imagetest.Entry{
		{Name: "etc", Dir: true},
		{Name: "etc/motd", Data: []byte(motd)},
		{Name: "probe", Data: bin, Mode: 0o755},
	})
	if err == nil {
		os.RemoveAll(dir)
		err = imagetest.WriteOCI(dir, img)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestImageAhead: `run FILE` of an image policy, which compiles it while the binary
// starts against the store as it is. An image the store lacks is pulled by run as
// before (the compile ahead pulls nothing); once the name is pulled again to another
// image, the next run runs that one, not the one the first resolved (the Plan kept for
// the first is not taken once the store records another digest), and the Plan kept
// then is taken by the next run, with --store naming the same store; the run's
// directories are gone after each run; and a Plan compiled from the name before is
// refused once its image left the store (its pins).
func TestImageAhead(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store, plans := filepath.Join(dir, "store"), filepath.Join(dir, "plans")
	motdImage(t, filepath.Join(dir, "img"), "first\n")
	policyFile := filepath.Join(dir, "motd.yaml")
	os.WriteFile(policyFile, []byte("version: 1\nname: motd\nrun: {image: oci:./img}\nsyscalls: {extends: default}\n"), 0o644)
	run := func(flag bool, want string) string {
		t.Helper()
		args := []string{"run", policyFile, "--", "cat:/etc/motd"}
		if flag {
			args = append([]string{"--store", store}, args...)
		}
		cmd := exec.Command(confineBin, args...)
		cmd.Env = append(os.Environ(), "CONFINE_STORE="+store, "CONFINE_PLAN_CACHE="+plans)
		var out strings.Builder
		cmd.Stdout = &out
		code, stderr := exitOf(cmd)
		if got := results(out.String())["cat:/etc/motd"].Out; code != 0 || got != want {
			t.Fatalf("run (--store %v): %d, /etc/motd %q, want %q\n%s", flag, code, got, want, stderr)
		}
		if left, _ := filepath.Glob(filepath.Join(store, "runs", "*")); len(left) != 0 {
			t.Errorf("the run left %v", left)
		}
		return stderr
	}
	if stderr := run(false, "first\n"); !strings.Contains(stderr, ": done") {
		t.Errorf("the first run did not pull the image the store lacked:\n%s", stderr)
	}
	code, firstPlan, errOut := confine(t, store, "compile", policyFile, "--format", "json")
	if code != 0 {
		t.Fatalf("compile: %d %s", code, errOut)
	}
	if stderr := run(true, "first\n"); strings.Contains(stderr, ": done") {
		t.Errorf("the second run pulled again:\n%s", stderr)
	}

	motdImage(t, filepath.Join(dir, "img"), "second\n")
	if code, _, errOut := confine(t, store, "pull", "--quiet", "oci:"+filepath.Join(dir, "img")); code != 0 {
		t.Fatalf("pull: %d %s", code, errOut)
	}
	run(false, "second\n")
	kept, _ := filepath.Glob(filepath.Join(plans, "*"))
	if len(kept) != 1 {
		t.Fatalf("kept %v, want the Plan of the image", kept)
	}
	ino := inode(t, kept[0])
	run(true, "second\n")
	if again, _ := filepath.Glob(filepath.Join(plans, "*")); len(again) != 1 || inode(t, again[0]) != ino {
		t.Errorf("the Plan kept for the image was compiled and kept again (%v), not taken", again)
	}

	// The first image has no name left: prune drops it, and its Plan is refused.
	if code, _, errOut := confine(t, store, "image", "prune"); code != 0 {
		t.Fatalf("prune: %d %s", code, errOut)
	}
	planFile := filepath.Join(dir, "first.json")
	os.WriteFile(planFile, []byte(firstPlan), 0o644)
	if code, _, errOut := confine(t, store, "run", "--plan", planFile); code != 2 || !strings.Contains(errOut, "is not in the store") {
		t.Errorf("the Plan of an image pruned since: %d %s", code, errOut)
	}
}
