//go:build linux

package run_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// runExe starts bin with args and env, and returns the executable its process runs once
// the component's first line is out (the process keeps its pid across the hand-over),
// and all the component printed.
func runExe(t *testing.T, bin string, env []string, args ...string) (exe, out string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	first, err := r.ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s %v: no output (%v)\n%s", bin, args, err, stderr.String())
	}
	exe, _ = os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return exe, first + string(rest)
}

// TestSlimHandOver: `confine run` runs in the slim confine-run beside confine
// (cmd/confine/slim.go, sandbox/stage/stage_slim.c); a run that needs what the slim
// binary lacks (here an audit of denials), and every other command, goes back to confine
// before anything is set up; CONFINE_SLIM=off keeps the run in confine. Neither leaves a
// process behind, nor its marker in the component's environment.
func TestSlimHandOver(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	file := filepath.Join(dir, "slim.yaml")
	// The component copies both variables from the supervisor's environment, when set.
	policy := strings.Replace(probePolicy("", "env:", "pause:200ms"), `user: "0"}`, `user: "0", env_from_host: [_CONFINE_FULL, SLIM_TEST]}`, 1)
	if err := os.WriteFile(file, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "slim.plan.json")
	if err := os.WriteFile(planFile, []byte(testenv.Run(t, confineBin, "compile", file, "--format", "json")), 0o644); err != nil {
		t.Fatal(err)
	}
	slim := filepath.Join(filepath.Dir(confineBin), "confine-run")
	before := subreaper(t)
	for _, tc := range []struct {
		name, bin string
		env       []string
		args      []string
		want      string
	}{
		{"a policy", confineBin, nil, []string{"run", file}, slim},
		{"a Plan", confineBin, nil, []string{"run", "--plan", planFile}, slim},
		{"--show-denials", confineBin, nil, []string{"run", "--show-denials", file}, confineBin},
		{"CONFINE_SLIM=off", confineBin, []string{"CONFINE_SLIM=off"}, []string{"run", file}, confineBin},
		{"confine-run itself", slim, nil, []string{"run", file}, slim},
		{"confine-run --show-denials", slim, nil, []string{"run", "--show-denials", file}, confineBin},
	} {
		exe, out := runExe(t, tc.bin, append(tc.env, "SLIM_TEST=yes"), tc.args...)
		if exe != tc.want {
			t.Errorf("%s: the run's process runs %s, want %s", tc.name, exe, tc.want)
		}
		if strings.Contains(out, "_CONFINE") || !strings.Contains(out, "SLIM_TEST=yes") {
			t.Errorf("%s: the component's environment: %s", tc.name, out)
		}
		for pid := range newChildren(before) {
			t.Errorf("%s: process %d left behind", tc.name, pid)
			syscall.Kill(pid, syscall.SIGKILL)
			reapChild(pid)
		}
	}
	if out := testenv.Run(t, slim, "version"); !strings.HasPrefix(out, "confine ") {
		t.Errorf("confine-run version (handed to confine): %q", out)
	}
}

// TestSlimNotTrusted: confine hands a run only to a confine-run that is a regular file
// owned by confine's owner and writable by nobody else; otherwise it runs it itself.
func TestSlimNotTrusted(t *testing.T) {
	testenv.Require(t, testenv.Root)
	file := filepath.Join(t.TempDir(), "slim.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "env:", "pause:200ms")), 0o644); err != nil {
		t.Fatal(err)
	}
	copyTo := func(dir, name string) string {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(confineBin), name))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name)
		if err := os.WriteFile(out, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		plant func(slim string) error
		slim  bool
	}{
		{"as built", func(string) error { return nil }, true},
		{"group-writable", func(slim string) error { return os.Chmod(slim, 0o775) }, false},
		{"writable by others", func(slim string) error { return os.Chmod(slim, 0o757) }, false},
		{"another owner's", func(slim string) error { return os.Chown(slim, 65534, 65534) }, false},
		{"a symlink", func(slim string) error {
			if err := os.Rename(slim, slim+".real"); err != nil {
				return err
			}
			return os.Symlink(slim+".real", slim)
		}, false},
		{"not executable", func(slim string) error { return os.Chmod(slim, 0o644) }, false},
	} {
		dir, err := os.MkdirTemp("", "confine-slim-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		full := copyTo(dir, "confine")
		slim := copyTo(dir, "confine-run")
		if err := tc.plant(slim); err != nil {
			t.Fatal(err)
		}
		want := full
		if tc.slim {
			want = slim
		}
		if exe, _ := runExe(t, full, nil, "run", file); exe != want {
			t.Errorf("confine-run %s: the run's process runs %s, want %s", tc.name, exe, want)
		}
	}
}
