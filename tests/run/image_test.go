//go:build linux

package run_test

import (
	"bytes"
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

// probeImage writes an OCI layout holding the probe, an app user, a file owned by root,
// a link /link -> /etc, and a second layer that changes /etc/motd and whites out /gone.
func probeImage(t *testing.T, dir string) {
	t.Helper()
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	base := []imagetest.Entry{
		{Name: "etc", Dir: true},
		{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/srv:/bin/sh\n")},
		{Name: "etc/group", Data: []byte("root:x:0:\napp:x:1001:\n")},
		{Name: "etc/motd", Data: []byte("layer one\n")},
		{Name: "gone", Data: []byte("x")},
		{Name: "probe", Data: bin, Mode: 0o755},
		{Name: "srv", Dir: true, UID: 1000, GID: 1001},
		{Name: "link", Link: "/etc"},
	}
	top := []imagetest.Entry{
		{Name: "etc/motd", Data: []byte("layer two\n")},
		{Name: ".wh.gone"},
	}
	cfg := v1.Config{Entrypoint: []string{"/probe"}, User: "app", Env: []string{"FROM_IMAGE=yes", "GREETING=image"},
		WorkingDir: "/srv", ExposedPorts: map[string]struct{}{"8080/tcp": {}}, Volumes: map[string]struct{}{"/data": {}}}
	img, err := imagetest.Image(cfg, base, top)
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.WriteOCI(dir, img); err != nil {
		t.Fatal(err)
	}
}

// confine runs the CLI on store and returns its exit status, stdout and stderr.
func confine(t *testing.T, store string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(confineBin, append([]string{"--store", store}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestRunFromImage runs the probe from an image: it reads the image (the top layer's
// file, as the image's user from its /etc/passwd), cannot write the image or anywhere
// undeclared, a write to the upper is gone after the run, and a write to a volume stays
// across runs; volume rm is refused while a run holds the volume.
func TestRunFromImage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	probeImage(t, filepath.Join(dir, "img"))
	vol := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	policyFile := filepath.Join(dir, "probe.yaml")
	os.WriteFile(policyFile, []byte(`version: 1
name: imgprobe
run:
  image: oci:./img
  env: {GREETING: policy}
filesystem:
  write: [/scratch, {path: /data, volume: `+vol+`}]
syscalls: {extends: default}
`), 0o644)
	defer confine(t, store, "volume", "rm", vol)

	code, out, errOut := confine(t, store, "run", policyFile, "--", "cat:/etc/motd", "id:", "cwd:", "env:",
		"read:/gone", "write:/etc/motd", "write:/newfile", "write:/srv/x", "write:/scratch/x", "write:/data/keep",
		"stat:/etc/motd", "stat:/srv", "stat:/scratch")
	if code != 0 {
		t.Fatalf("run: %d\n%s\n%s", code, out, errOut)
	}
	res := results(out)
	want := map[string]bool{"cat:/etc/motd": true, "read:/gone": false, "write:/etc/motd": false,
		"write:/newfile": false, "write:/srv/x": false, "write:/scratch/x": true, "write:/data/keep": true}
	for probe, ok := range want {
		if res[probe].OK != ok {
			t.Errorf("%s: ok=%v, want %v (%s)", probe, res[probe].OK, ok, res[probe].Err)
		}
	}
	if got := res["cat:/etc/motd"].Out; got != "layer two\n" {
		t.Errorf("/etc/motd reads %q, want the top layer's", got)
	}
	if got := res["id:"].Out; got != "1000:1001" {
		t.Errorf("id %q: want the image's user app, 1000:1001, from its /etc/passwd", got)
	}
	if got := res["cwd:"].Out; got != "/srv" {
		t.Errorf("cwd %q, want the image's WorkingDir", got)
	}
	if env := res["env:"].Out; !strings.Contains(env, "FROM_IMAGE=yes") || !strings.Contains(env, "GREETING=policy") {
		t.Errorf("env %q: want the image's under the policy's", env)
	}
	// Layers are unpacked with the tar's owners and seen through idmapped lowers.
	if st := res["stat:/etc/motd"].Out; st != "0:0" {
		t.Errorf("/etc/motd owned by %s inside, want 0:0 as the layer says", st)
	}
	if st := res["stat:/srv"].Out; st != "1000:1001" {
		t.Errorf("/srv owned by %s inside, want 1000:1001 as the layer says", st)
	}
	if st := res["stat:/scratch"].Out; st != "1000:1001" {
		t.Errorf("/scratch (made in the upper) owned by %s, want the component's user", st)
	}

	code, out, errOut = confine(t, store, "run", policyFile, "--", "read:/scratch/x", "cat:/data/keep")
	res = results(out)
	if code != 0 || res["read:/scratch/x"].OK || !res["cat:/data/keep"].OK {
		t.Fatalf("second run: %d %v\n%s", code, res, errOut)
	}
	if runs, _ := filepath.Glob(filepath.Join(store, "runs", "run-*")); len(runs) != 0 {
		t.Errorf("run dirs left: %v", runs)
	}

	// A run that holds the volume: rm is refused, and allowed once it ended. The run
	// writes into the volume once it runs, so holds it: rm is tried only from then on
	// (on a loaded host the run may take longer than any fixed wait to start).
	bg := exec.Command(confineBin, "--store", store, "run", policyFile, "--", "write:/data/held", "pause:3s")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(store, "volumes", vol, "_data", "held")
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(held); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var refused bool
	for i := 0; i < 50 && !refused; i++ {
		time.Sleep(100 * time.Millisecond)
		code, _, errOut = confine(t, store, "volume", "rm", vol)
		refused = code != 0 && strings.Contains(errOut, "in use")
		if code == 0 {
			t.Fatal("volume rm succeeded while a run used it")
		}
	}
	bg.Wait() // pause:3s ends it
	if !refused {
		t.Errorf("volume rm was never refused as in use: %s", errOut)
	}
	if code, _, errOut = confine(t, store, "volume", "rm", vol); code != 0 {
		t.Errorf("volume rm after the run: %d %s", code, errOut)
	}
}

// TestImageRefusals: a write path that is a symlink in the image is refused at run,
// and a Plan whose pins the store does not match is refused.
func TestImageRefusals(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	probeImage(t, filepath.Join(dir, "img"))
	link := filepath.Join(dir, "link.yaml")
	os.WriteFile(link, []byte("version: 1\nname: linkprobe\nrun: {image: oci:./img, command: [/probe, \"write:/link/x\"]}\nfilesystem: {write: [/link]}\nsyscalls: {extends: default}\n"), 0o644)
	code, _, errOut := confine(t, store, "run", link)
	if code != 2 || !strings.Contains(errOut, "/link is a symlink in the image") {
		t.Errorf("a write path that is a link: %d %s", code, errOut)
	}
	if _, err := os.Stat("/etc/x"); err == nil {
		t.Errorf("/etc/x exists on the host")
	}

	ok := filepath.Join(dir, "ok.yaml")
	os.WriteFile(ok, []byte("version: 1\nname: okprobe\nrun: {image: oci:./img}\nsyscalls: {extends: default}\n"), 0o644)
	code, planJSON, errOut := confine(t, store, "compile", ok, "--format", "json")
	if code != 0 {
		t.Fatalf("compile: %d %s", code, errOut)
	}
	if !strings.Contains(planJSON, `"diff_ids"`) || !strings.Contains(planJSON, `"config_digest"`) {
		t.Fatalf("the Plan does not pin the image: %s", planJSON)
	}
	planFile := filepath.Join(dir, "plan.json")
	os.WriteFile(planFile, []byte(planJSON), 0o644)
	if code, out, errOut := confine(t, store, "run", "--plan", planFile, "--", "cat:/etc/motd"); code != 0 || !strings.Contains(out, "layer two") {
		t.Fatalf("run --plan: %d %s %s", code, out, errOut)
	}
	i := strings.Index(planJSON, `"diff_ids": [`)
	j := i + strings.Index(planJSON[i:], "sha256:") + len("sha256:")
	bad := planJSON[:j] + "0000" + planJSON[j+4:]
	os.WriteFile(planFile, []byte(bad), 0o644)
	if code, _, errOut := confine(t, store, "run", "--plan", planFile); code != 2 || !strings.Contains(errOut, "diff_ids") {
		t.Errorf("a Plan the store does not match: %d %s", code, errOut)
	}
}
