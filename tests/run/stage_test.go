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

// TestCStage runs the same probes under the C stage (CONFINE_STAGE=c) and the Go init:
// the trace says which ran, and both give the component the same identity, the same
// descriptors, seccomp and no_new_privs, no capabilities, and refuse the same things.
// A failed exec is worded the same by both.
func TestCStage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	probe := `"` + probeDir + `/probe"`
	write := func(name, command string) string {
		src := "version: 1\nname: stage\nrun: {command: [" + command + "], user: \"1000:1000\", hostname: staged}\n" +
			"filesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\nresources: {pids: 16}\n"
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	file := write("stage.yaml", probe)
	missing := write("missing.yaml", `"`+probeDir+`/nope"`)
	for _, mode := range []string{"c", "go"} {
		cmd := exec.Command(confineBin, "run", file, "--", "id:", "hostname:", "fds:", "status:", "caps:",
			"read:/etc/passwd", "mount:/tmp", "sethostname:x", "exit:3")
		cmd.Env = append(os.Environ(), "CONFINE_STAGE="+mode, "CONFINE_TRACE=1")
		var out strings.Builder
		cmd.Stdout = &out
		code, stderr := exitOf(cmd)
		if code != 3 {
			t.Fatalf("%s: exit %d, want 3:\n%s", mode, code, stderr)
		}
		if chosen := strings.Contains(stderr, "render_c_stage"); chosen != (mode == "c") {
			t.Errorf("%s: the C stage ran: %v, want %v:\n%s", mode, chosen, mode == "c", stderr)
		}
		if !strings.Contains(stderr, "confine-trace init   seccomp") {
			t.Errorf("%s: no seccomp step in the trace:\n%s", mode, stderr)
		}
		res := results(out.String())
		want := map[string]string{"id:": "1000:1000", "hostname:": "staged", "fds:": "0 1 2 3", "status:": "NoNewPrivs:1 Seccomp:2"}
		for probe, w := range want {
			if r := res[probe]; !r.OK || r.Out != w {
				t.Errorf("%s: %s: %+v, want %q", mode, probe, r, w)
			}
		}
		if r := res["caps:"]; !r.OK || !strings.Contains(r.Out, "CapEff:0000000000000000") || !strings.Contains(r.Out, "CapAmb:0000000000000000") {
			t.Errorf("%s: caps: %+v, want none", mode, r)
		}
		for _, p := range []string{"read:/etc/passwd", "mount:/tmp", "sethostname:x"} {
			if r := res[p]; r.OK {
				t.Errorf("%s: %s was allowed: %+v", mode, p, r)
			}
		}
		cmd = exec.Command(confineBin, "run", missing)
		cmd.Env = append(os.Environ(), "CONFINE_STAGE="+mode)
		if code, stderr := exitOf(cmd); code != 2 || !strings.Contains(stderr, "enforcement failed at exec: "+probeDir+"/nope: no such file or directory: the program is not in the sandbox") {
			t.Errorf("%s: a missing program: exit %d, stderr %q", mode, code, stderr)
		}
	}
}
