//go:build linux

// Package export_test checks exported policies with the targets' own tools: runc runs an
// OCI bundle with tests/probe inside and must agree with `confine run` except where the
// export lists a finding; systemd-analyze verifies and scores the units.
package export_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

var probeDir, confineBin string

func TestMain(m *testing.M) {
	testenv.Main(m, "confine-export-", func(dir string) {
		confineBin = filepath.Join(dir, "confine")
		probeDir = dir
	})
}

type result struct {
	Probe string
	OK    bool
	Err   string
	Out   string
}

func results(out string) map[string]result {
	res := map[string]result{}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r result
		if dec.Decode(&r) != nil {
			return res
		}
		res[r.Probe] = r
	}
}

type exportDoc struct {
	Files    []string
	Findings []struct{ Mechanism, Component, Message string }
}

// export runs `confine export FILE --format FORMAT -o DIR --json` in FILE's directory.
func export(t *testing.T, file, format, dir string) exportDoc {
	t.Helper()
	cmd := exec.Command(confineBin, "export", filepath.Base(file), "--format", format, "-o", dir, "--json")
	cmd.Dir = filepath.Dir(file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("confine export: %v\n%s%s", err, out, stderr.String())
	}
	var doc exportDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return doc
}

func (d exportDoc) has(mech string) bool {
	for _, f := range d.Findings {
		if f.Mechanism == mech {
			return true
		}
	}
	return false
}

var probes = []string{
	"id", "hostname", "cwd", "status", "read:PROBE/probe", "write:PROBE/x", "write:/scratch/x",
	"read:/etc/passwd", "ls:/", "mount:/scratch", "unshare", "sethostname:x", "rawsocket", "ptrace",
	"pivot_root", "bind:8080", "caps",
}

// landlockOnly are the probes only Landlock denies under confine: the bundle has no
// Landlock, which its findings say.
var landlockOnly = map[string]bool{"ls:/": true, "bind:8080": true}

func TestOCIBundleUnderRunc(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Command("runc"))
	work := t.TempDir()
	os.Chmod(work, 0o755)
	os.Chmod(filepath.Dir(work), 0o755) // the mapped ids must reach the bundle
	var args []string
	for _, p := range probes {
		args = append(args, `"`+strings.ReplaceAll(p, "PROBE", probeDir)+`"`)
	}
	src := "version: 1\nname: probe\nrun: {command: [\"" + probeDir + "/probe\", " + strings.Join(args, ", ") + "], user: \"1000:1000\", workdir: /scratch}\n" +
		"filesystem: {read: [" + probeDir + "], tmpfs: [/scratch]}\nsyscalls: {extends: default}\nresources: {memory: 64Mi, pids: 32, nofile: 256}\n"
	file := filepath.Join(work, "probe.yaml")
	os.WriteFile(file, []byte(src), 0o644)

	out, err := exec.Command(confineBin, "run", file).CombinedOutput()
	if err != nil {
		t.Fatalf("confine run: %v\n%s", err, out)
	}
	want := results(string(out))

	bundles := filepath.Join(work, "oci")
	doc := export(t, file, "oci", bundles)
	bundle := filepath.Join(bundles, "probe")
	// The one change to the bundle: its cgroup goes under a parent of this test's own.
	parent := fmt.Sprintf("confine-export-test-%d", os.Getpid())
	setCgroupsPath(t, filepath.Join(bundle, "config.json"), "/"+parent+"/probe")
	defer removeCgroupParent(parent)
	id := fmt.Sprintf("confine-export-%d", os.Getpid())
	runcRoot := filepath.Join(work, "runc")
	cmd := exec.Command("runc", "--root", runcRoot, "run", "--bundle", bundle, id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	exec.Command("runc", "--root", runcRoot, "delete", "-f", id).Run()
	if err != nil {
		t.Fatalf("runc run: %v\n%s\n%s", err, got, stderr.String())
	}
	have := results(string(got))
	if !doc.has("landlock") {
		t.Fatalf("the export lists no landlock finding: %+v", doc.Findings)
	}
	for _, p := range probes {
		p = strings.ReplaceAll(p, "PROBE", probeDir)
		w, h := want[p], have[p]
		if w.Probe == "" || h.Probe == "" {
			t.Errorf("%s: missing result (confine %+v, runc %+v)", p, w, h)
			continue
		}
		if landlockOnly[p] {
			if w.OK || !h.OK {
				t.Errorf("%s: confine %+v, runc %+v; want denied by Landlock under confine only", p, w, h)
			}
			continue
		}
		if w.OK != h.OK || (w.OK && w.Out != h.Out && p != "caps") {
			t.Errorf("%s: confine %+v, runc %+v", p, w, h)
		}
	}
}

func setCgroupsPath(t *testing.T, config, path string) {
	t.Helper()
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	spec["linux"].(map[string]any)["cgroupsPath"] = path
	data, _ = json.Marshal(spec)
	if err := os.WriteFile(config, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeCgroupParent removes the test's cgroup parent from every hierarchy runc used.
func removeCgroupParent(parent string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	if d := "/sys/fs/cgroup/" + parent; exists(d) {
		dirs = append(dirs, d)
	}
	if d := "/sys/fs/cgroup/unified/" + parent; exists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		os.Remove(filepath.Join(d, "probe"))
		os.Remove(d)
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestSystemdUnitsVerify(t *testing.T) {
	testenv.Require(t, testenv.Command("systemd-analyze"))
	work := t.TempDir()
	probe := probeDir + "/probe"
	write := func(name, body string) { os.WriteFile(filepath.Join(work, name), []byte(body), 0o644) }
	write("stack.yaml", "version: 1\nname: pair\nsubnet: 10.89.0.0/24\ncomponents: [a.yaml, b.yaml]\n")
	write("a.yaml", "version: 1\nname: a\nrun: {command: [\""+probe+"\", \"sleep:1\"], user: \"1000:1000\"}\nfilesystem: {read: ["+probeDir+"], tmpfs: [/scratch]}\n"+
		"network: {connect: [{to: \"b:9000/tcp\"}]}\nsyscalls: {extends: default}\nresources: {memory: 64Mi, pids: 32, cpu: 0.5, nofile: 256}\n")
	write("b.yaml", "version: 1\nname: b\nrun: {command: [\""+probe+"\", \"serve:9000\"], user: \"1000:1000\"}\nfilesystem: {read: ["+probeDir+"], write: ["+work+"]}\n"+
		"network: {listen: [{port: 9000/tcp, from: [a]}]}\nsyscalls: {extends: default}\n")
	units := filepath.Join(work, "units")
	doc := export(t, filepath.Join(work, "stack.yaml"), "systemd", units)
	if len(doc.Files) != 2 || !doc.has("seccomp_args") || !doc.has("flows") {
		t.Fatalf("export: %+v", doc)
	}
	verify := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, doc.Files...)...)
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, f := range doc.Files {
		out, err := exec.Command("systemd-analyze", "security", "--offline=true", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Overall exposure level") {
			t.Fatalf("systemd-analyze security %s: %v\n%s", f, err, out)
		}
		t.Logf("%s: %s", filepath.Base(f), lastLine(string(out)))
	}
	// And it can fail: a unit whose command does not exist is refused.
	bad := filepath.Join(work, "bad.service")
	os.WriteFile(bad, []byte("[Service]\nExecStart=/nonexistent/x\n"), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", "--man=no", bad).CombinedOutput(); err == nil {
		t.Fatalf("systemd-analyze verify accepted a unit without an executable:\n%s", out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
