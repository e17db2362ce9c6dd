//go:build linux

package run_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// hostDir is a directory the component's ns-root can traverse, unlike t.TempDir's 0700.
func hostDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "confine-host-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestBinds: a bind on top of a file in a read directory shows the bound file, read-only;
// a writable bind reaches the host; a read-only bind of a directory refuses writes; a
// target in the sandbox's own tmpfs root is made; a target missing from a host
// directory is refused at start, with nothing made on the host.
func TestBinds(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := hostDir(t)
	for name, content := range map[string]string{"etc/app.conf": "packaged", "cfg/app.conf": "bound!", "ro/file": "r"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	rw := filepath.Join(dir, "rw")
	os.Mkdir(rw, 0o755)
	os.Chown(rw, 1000, 1000)
	etc := filepath.Join(dir, "etc")
	c := compileWith(t, etc, "  bind:\n"+
		"    - {source: "+dir+"/cfg/app.conf, target: "+etc+"/app.conf}\n"+
		"    - {source: "+rw+", target: /data, write: true}\n"+
		"    - {source: "+dir+"/ro, target: /opt/ro}\n",
		"cat:"+etc+"/app.conf", "write:"+etc+"/app.conf", "write:/data/x", "cat:/opt/ro/file", "write:/opt/ro/y")
	res, _ := run(t, c)
	if r := res["cat:"+etc+"/app.conf"]; !r.OK || r.Out != "bound!" {
		t.Errorf("the bind on top of a read directory's file: %+v", r)
	}
	for probe, allowed := range map[string]bool{"write:" + etc + "/app.conf": false, "write:/data/x": true, "cat:/opt/ro/file": true, "write:/opt/ro/y": false} {
		if r := res[probe]; r.OK != allowed {
			t.Errorf("%s: %+v, want allowed=%v", probe, r, allowed)
		}
	}
	if _, err := os.Stat(filepath.Join(rw, "x")); err != nil {
		t.Errorf("the writable bind's write did not reach the host: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(etc, "app.conf")); string(data) != "packaged" {
		t.Errorf("the host's file under the bind changed: %q", data)
	}

	missing := compileWith(t, etc, "  bind: [{source: "+dir+"/cfg/app.conf, target: "+etc+"/new.conf}]\n", "exit:0")
	err := launchErr(t, missing)
	if err == nil || !strings.Contains(err.Error(), "does not exist in "+etc) {
		t.Errorf("a bind target missing from a host directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(etc, "new.conf")); err == nil {
		t.Errorf("the start made %s/new.conf on the host", etc)
	}
}

// compileWith compiles the probe with args, reading read beside the probe's directory.
func compileWith(t *testing.T, read, extra string, args ...string) *plan.Component {
	t.Helper()
	var quoted []string
	for _, a := range append([]string{probeDir + "/probe"}, args...) {
		quoted = append(quoted, `"`+a+`"`)
	}
	src := "version: 1\nname: probe\nrun: {command: [" + strings.Join(quoted, ", ") + "], user: \"1000:1000\"}\n" +
		"filesystem:\n  read: [" + probeDir + ", " + read + "]\n" + extra + "syscalls: {extends: default}\n"
	s, err := policy.Open(fstest.MapFS{"probe.yaml": {Data: []byte(src)}}, "probe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return &p.Components[0]
}

// launchErr launches c and returns why it could not start, or nil after it ran.
func launchErr(t *testing.T, c *plan.Component) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Spawner: sharedSpawner()}, nil)
	if err == nil {
		sb.Wait()
	}
	return err
}

// TestEnvSources: env_from_host is read from the supervisor's environment, env_file at
// start; run.env wins over env_file, env_file over env_from_host. A bad line stops the
// start and names the line, not its content.
func TestEnvSources(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := hostDir(t)
	envFile := filepath.Join(dir, "app.env")
	os.WriteFile(envFile, []byte("# comment\nFROM_FILE=file\nBOTH=file\nGREETING=file\n\n"), 0o600)
	t.Setenv("FROM_HOST", "host")
	t.Setenv("BOTH", "host")
	t.Setenv("NOT_NAMED", "x")
	c := compile(t, "", "env:")
	c.Process.EnvFromHost = []string{"FROM_HOST", "BOTH", "UNSET_ONE"}
	c.Process.EnvFile = envFile
	res, _ := run(t, c)
	got := " " + res["env:"].Out + " "
	for _, want := range []string{" FROM_HOST=host ", " FROM_FILE=file ", " BOTH=file ", " GREETING=hi "} {
		if !strings.Contains(got, want) {
			t.Errorf("environment %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "NOT_NAMED") || strings.Contains(got, "UNSET_ONE") {
		t.Errorf("environment %q has a variable not asked for", got)
	}
	os.WriteFile(envFile, []byte("OK=1\nSECRET=a\x1b[2Jb\n"), 0o600)
	err := launchErr(t, c)
	if err == nil || !strings.Contains(err.Error(), "app.env:2: the value of SECRET contains a control") || strings.Contains(err.Error(), "a\x1b") {
		t.Errorf("a control character in env_file: %v", err)
	}
}

// TestMissingInterpreter: a dynamically linked program without its loader in the
// sandbox fails at exec saying which loader is missing and how to add it.
func TestMissingInterpreter(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ls, err := exec.LookPath("ls")
	if err != nil {
		testenv.Missing(t, "no ls")
	}
	ls, _ = filepath.EvalSymlinks(ls)
	c := compile(t, "  bind: [{source: "+ls+", target: "+ls+"}]\n")
	c.Process.Args = []string{ls}
	err = launchErr(t, c)
	if err == nil || !strings.Contains(err.Error(), "the ELF interpreter /lib64/ld-linux-x86-64.so.2 of "+ls+" is not in the sandbox: add extends: [host-runtime]") {
		t.Errorf("exec without the loader: %v", err)
	}
	// With host-runtime the same program runs.
	ok := compile(t, "extends: [host-runtime]\n")
	ok.Process.Args = []string{ls, "/usr"}
	if _, code, out := launch(t, ok); code != 0 || !strings.Contains(out, "bin") {
		t.Errorf("ls under host-runtime: exit %d, %q", code, out)
	}
}

// TestTimeoutGrace: --timeout sends SIGTERM, which a component that handles it answers
// by exiting; one that ignores it is killed once --grace has passed.
func TestTimeoutGrace(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	policy := filepath.Join(dir, "p.yaml")
	os.WriteFile(policy, []byte("version: 1\nname: grace\nrun: {command: [\""+probeDir+"/probe\"]}\nfilesystem: {read: ["+probeDir+"]}\nsyscalls: {extends: default}\n"), 0o644)
	for _, tc := range []struct {
		probe string
		code  int
	}{{"term:", 0}, {"term:ignore", 137}} {
		cmd := exec.Command(confineBin, "run", "--timeout", "300ms", "--grace", "500ms", policy, "--", tc.probe)
		var out strings.Builder
		cmd.Stdout = &out
		code, stderr := exitOf(cmd)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.probe, code, tc.code, out.String(), stderr)
		}
		if tc.code == 0 && !strings.Contains(out.String(), `"out":"terminated"`) {
			t.Errorf("%s: the component did not see SIGTERM: %s", tc.probe, out.String())
		}
	}
}
