//go:build linux

package run_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/confine-sandbox/confine/tests/imagetest"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// runStaged runs confine on store under the C stage ("c") or the Go init ("go") with the
// trace on, and returns the exit status, stdout and stderr. The store is named in the
// environment: the constructor forks the early spawner only for argv[1] "run".
func runStaged(t *testing.T, store, mode string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(confineBin, args...)
	cmd.Env = append(os.Environ(), "CONFINE_STORE="+store, "CONFINE_STAGE="+mode, "CONFINE_TRACE=1")
	var out strings.Builder
	cmd.Stdout = &out
	code, stderr := exitOf(cmd)
	return code, out.String(), stderr
}

// checkStageTaken: under "c" the C stage ran, through the spawner (render_c_stage and
// spawn in the trace, no exec.Cmd clone) — or through exec.Cmd's clone after the early
// spawner refused its spare (spare_refused: stale once another test changed the host's
// mounts); under "go" the Go init, through a clone.
func checkStageTaken(t *testing.T, mode, stderr string) {
	t.Helper()
	rendered := strings.Contains(stderr, "confine-trace parent render_c_stage ")
	spawned := strings.Contains(stderr, "confine-trace parent spawn ")
	cloned := strings.Contains(stderr, "confine-trace parent clone ")
	if mode == "c" && cloned && strings.Contains(stderr, "confine-trace parent spare_refused ") {
		spawned, cloned = true, false
	}
	if want := mode == "c"; rendered != want || spawned != want || cloned == want {
		t.Errorf("%s: render_c_stage %v, spawn %v, clone %v; want the %s path:\n%s", mode, rendered, spawned, cloned, mode, stderr)
	}
}

// TestImageCStage: an image run with numeric ids, write paths and a volume takes the C
// stage and the spawner, as a rootfs run does, and gets from it what the Go init gives:
// the top layer's files, read-only, a write path made in the upper and owned by the
// component's user, a volume kept from the other stage's run. A rootfs run with a volume
// takes the C stage too.
func TestImageCStage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	probeImage(t, filepath.Join(dir, "img"))
	vol := fmt.Sprintf("stage-%d", time.Now().UnixNano())
	defer confine(t, store, "volume", "rm", vol)
	policyFile := filepath.Join(dir, "probe.yaml")
	os.WriteFile(policyFile, []byte(`version: 1
name: imgstage
run: {image: oci:./img, user: "1000:1001"}
filesystem:
  write: [/scratch, /srv/new, {path: /data, volume: `+vol+`}]
syscalls: {extends: default}
`), 0o644)
	for i, mode := range []string{"c", "go"} {
		other := []string{"go", "c"}[i]
		code, out, stderr := runStaged(t, store, mode, "run", policyFile, "--", "cat:/etc/motd", "id:", "cwd:",
			"write:/etc/motd", "write:/newfile", "write:/scratch/x", "write:/srv/new/x", "stat:/scratch", "stat:/srv/new",
			"write:/data/"+mode, "read:/data/"+other, "read:/gone")
		if code != 0 {
			t.Fatalf("%s: run: %d\n%s\n%s", mode, code, out, stderr)
		}
		checkStageTaken(t, mode, stderr)
		res := results(out)
		want := map[string]bool{"cat:/etc/motd": true, "write:/etc/motd": false, "write:/newfile": false,
			"write:/scratch/x": true, "write:/srv/new/x": true, "write:/data/" + mode: true, "read:/data/" + other: i == 1, "read:/gone": false}
		for probe, ok := range want {
			if res[probe].OK != ok {
				t.Errorf("%s: %s: ok=%v, want %v (%s)", mode, probe, res[probe].OK, ok, res[probe].Err)
			}
		}
		if got := res["cat:/etc/motd"].Out; got != "layer two\n" {
			t.Errorf("%s: /etc/motd reads %q, want the top layer's", mode, got)
		}
		for probe, w := range map[string]string{"id:": "1000:1001", "cwd:": "/srv", "stat:/scratch": "1000:1001", "stat:/srv/new": "1000:1001"} {
			if got := res[probe].Out; got != w {
				t.Errorf("%s: %s = %q, want %q", mode, probe, got, w)
			}
		}
	}

	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "data"), 0o755)
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "probe"), bin, 0o755)
	rootfsFile := filepath.Join(dir, "rootfs.yaml")
	os.WriteFile(rootfsFile, []byte(`version: 1
name: rootfsvol
run: {rootfs: `+rootfs+`, command: [/probe], user: "1000:1001"}
filesystem: {read: [/probe], write: [{path: /data, volume: `+vol+`}]}
syscalls: {extends: default}
`), 0o644)
	code, out, stderr := runStaged(t, store, "c", "run", rootfsFile, "--", "cat:/data/go", "write:/data/rootfs")
	if res := results(out); code != 0 || !res["cat:/data/go"].OK || !res["write:/data/rootfs"].OK {
		t.Fatalf("a rootfs run with the volume: %d %v\n%s", code, res, stderr)
	}
	checkStageTaken(t, "c", stderr)
}

// TestHostileImageCStage: an image whose links or files stand where a mount goes is
// refused by the C stage in the Go init's words, before the mount can follow the link:
// /dev a link to a host directory (the /dev tmpfs would be mounted there, and its
// missing target made on the host), a write path and a volume beneath a link, and a
// write path beneath a file.
func TestHostileImageCStage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	outside := filepath.Join(dir, "host")
	os.Mkdir(outside, 0o755)
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagetest.Image(v1.Config{Entrypoint: []string{"/probe"}}, []imagetest.Entry{
		{Name: "probe", Data: bin, Mode: 0o755},
		{Name: "dev", Link: filepath.Join(outside, "made")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.WriteOCI(filepath.Join(dir, "devlink"), img); err != nil {
		t.Fatal(err)
	}
	probeImage(t, filepath.Join(dir, "img"))
	vol := fmt.Sprintf("hostile-%d", time.Now().UnixNano())
	defer confine(t, store, "volume", "rm", vol)
	cases := []struct{ name, image, filesystem, refusal string }{
		{"dev-link", "devlink", "{}", "tmpfs /dev (a minimal /dev): /dev is a symlink in the image: refused (a mount onto it would follow the link)"},
		{"upper-beneath-link", "img", "{write: [/link/sub]}", "/link is a symlink in the image: refused"},
		{"volume-beneath-link", "img", "{write: [{path: /link/data, volume: " + vol + "}]}", "/link is a symlink in the image: refused"},
		{"beneath-file", "img", "{write: [/etc/motd/x]}", "/etc/motd is not a directory in the image"},
	}
	for _, tc := range cases {
		file := filepath.Join(dir, tc.name+".yaml")
		os.WriteFile(file, []byte("version: 1\nname: hostile\nrun: {image: oci:./"+tc.image+", user: \"1000\"}\nfilesystem: "+
			tc.filesystem+"\nsyscalls: {extends: default}\n"), 0o644)
		for _, mode := range []string{"c", "go"} {
			code, out, stderr := runStaged(t, store, mode, "run", file, "--", "id:")
			if code != 2 || !strings.Contains(stderr, "enforcement failed at mounts: ") || !strings.Contains(stderr, tc.refusal) {
				t.Errorf("%s, %s: exit %d, want 2 and %q:\n%s%s", tc.name, mode, code, tc.refusal, out, stderr)
			}
			if mode == "c" && !strings.Contains(stderr, "confine-trace parent render_c_stage ") {
				t.Errorf("%s: the C stage did not run:\n%s", tc.name, stderr)
			}
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the image's link reached the host: %v", entries)
	}
	if _, err := os.Stat("/etc/sub"); err == nil {
		t.Errorf("/etc/sub exists on the host")
	}
	if runs, _ := filepath.Glob(filepath.Join(store, "runs", "run-*")); len(runs) != 0 {
		t.Errorf("run dirs left: %v", runs)
	}
}

// TestImageNamedUserCStage: an image run whose run.user is a name (the probe image's app,
// which the policy names: the image's own USER is resolved at compile) takes the C stage
// too: the write path it makes in the upper is given to the user once the
// name resolves from the image's /etc/passwd, as the Go init's chownLater does.
func TestImageNamedUserCStage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	probeImage(t, filepath.Join(dir, "img"))
	policyFile := filepath.Join(dir, "probe.yaml")
	os.WriteFile(policyFile, []byte("version: 1\nname: imgnamed\nrun: {image: oci:./img, user: app}\n"+
		"filesystem: {write: [/scratch]}\nsyscalls: {extends: default}\n"), 0o644)
	for _, mode := range []string{"c", "go"} {
		code, out, stderr := runStaged(t, store, mode, "run", policyFile, "--", "id:", "stat:/scratch", "write:/scratch/x")
		if code != 0 {
			t.Fatalf("%s: run: %d\n%s\n%s", mode, code, out, stderr)
		}
		checkStageTaken(t, mode, stderr)
		res := results(out)
		if got := res["id:"].Out; got != "1000:1001" {
			t.Errorf("%s: id %q, want the image's app, 1000:1001", mode, got)
		}
		if got := res["stat:/scratch"].Out; got != "1000:1001" || !res["write:/scratch/x"].OK {
			t.Errorf("%s: /scratch owned by %q (write ok %v), want made for app, 1000:1001", mode, got, res["write:/scratch/x"].OK)
		}
	}
	// The store named by the global flag: the early spawner is forked all the same.
	cmd := exec.Command(confineBin, "--store", store, "run", policyFile, "--", "id:")
	cmd.Env = append(os.Environ(), "CONFINE_TRACE=1", "CONFINE_STAGE=c") // also in make test's Go init pass
	code, stderr := exitOf(cmd)
	if code != 0 {
		t.Fatalf("--store run: %d\n%s", code, stderr)
	}
	checkStageTaken(t, "c", stderr)
}
