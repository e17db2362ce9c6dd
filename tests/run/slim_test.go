//go:build linux

package run_test

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// runExe starts bin with args and env, and returns the executable its process runs once
// the component's first line is out (the process keeps its pid across the hand-over),
// and all the component printed.
func runExe(t *testing.T, bin string, env []string, args ...string) (exe, out string) {
	exe, _, out = runExeComm(t, bin, env, args...)
	return exe, out
}

// runExeComm is runExe that also returns the process's name then (/proc/PID/comm).
func runExeComm(t *testing.T, bin string, env []string, args ...string) (exe, comm, out string) {
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
	name, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return exe, strings.TrimSpace(string(name)), first + string(rest)
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
	// An outside destination: the lone run's uplink, which confine-run hands back after
	// its compile (no packet is sent).
	uplink := filepath.Join(dir, "uplink.yaml")
	if err := os.WriteFile(uplink, []byte(policy+"network:\n  connect:\n    - to: 203.0.113.10:80/tcp\n"), 0o644); err != nil {
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
		{"an uplink", confineBin, nil, []string{"run", uplink}, confineBin},
		{"CONFINE_SLIM=off", confineBin, []string{"CONFINE_SLIM=off"}, []string{"run", file}, confineBin},
		{"confine-run itself", slim, nil, []string{"run", file}, slim},
		{"confine-run --show-denials", slim, nil, []string{"run", "--show-denials", file}, confineBin},
	} {
		exe, comm, out := runExeComm(t, tc.bin, append(tc.env, "SLIM_TEST=yes"), tc.args...)
		if exe != tc.want {
			t.Errorf("%s: the run's process runs %s, want %s", tc.name, exe, tc.want)
		}
		if tc.want == confineBin && comm != "confine" { // ps and pgrep name it as before
			t.Errorf("%s: the run's process is named %q, want confine", tc.name, comm)
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

// TestSlimGuess: confine keeps a run whose policy or Plan names what confine-run would
// hand back after its compile (an uplink here; an image or a volume alike) without
// starting confine-run at all (stage_slim.c's input_needs_full): the run starts one Go
// runtime, so its trace has one cli step, where a hand-back has two.
func TestSlimGuess(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	uplink := filepath.Join(dir, "uplink.yaml")
	policy := probePolicy("network:\n  connect:\n    - to: 203.0.113.10:80/tcp\n", "env:", "pause:50ms")
	if err := os.WriteFile(uplink, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "uplink.plan.json")
	if err := os.WriteFile(planFile, []byte(testenv.Run(t, confineBin, "compile", uplink, "--format", "json")), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(plain, []byte(probePolicy("", "env:", "pause:50ms")), 0o644); err != nil {
		t.Fatal(err)
	}
	// Past what the guess reads: confine-run starts, and hands the run back.
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 300<<10)+"\n"+policy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		starts int
	}{
		{[]string{"run", uplink}, 1},
		{[]string{"run", "--timeout", "20s", uplink}, 1},
		{[]string{"run", "--plan", planFile}, 1},
		{[]string{"run", "--plan=" + planFile}, 1},
		{[]string{"run", plain}, 1}, // in confine-run
		{[]string{"run", big}, 2},
	} {
		cmd := exec.Command(confineBin, tc.args...)
		cmd.Env = append(os.Environ(), "CONFINE_TRACE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		if n := strings.Count(string(out), "confine-trace parent cli "); n != tc.starts {
			t.Errorf("%v: %d Go starts, want %d:\n%s", tc.args, n, tc.starts, out)
		}
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
		{"another build's", otherBuild, false},
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

// otherBuild makes the confine-run at slim one of another build than the confine beside
// it, as far as its pairing tells (the Makefile's PAIR): its GNU build ID differs.
func otherBuild(slim string) error {
	f, err := elf.Open(slim)
	if err != nil {
		return err
	}
	note := f.Section(".note.gnu.build-id")
	f.Close()
	if note == nil {
		return fmt.Errorf("%s has no GNU build ID", slim)
	}
	data, err := os.ReadFile(slim)
	if err != nil {
		return err
	}
	data[note.Offset+16] ^= 1 // the descriptor, after the note's header and "GNU\0"
	return os.WriteFile(slim, data, 0o755)
}

// TestSlimHandBackNotTrusted: confine-run hands back only to confine beside it, checked as
// confine checks confine-run (a regular file of its owner, writable by nobody else), and
// never to a binary its environment names; and only a binary named confine hands a run
// over (to what would hand back to another).
func TestSlimHandBackNotTrusted(t *testing.T) {
	testenv.Require(t, testenv.Root)
	built := filepath.Dir(confineBin)
	copyTo := func(dir, name, to string) string {
		data, err := os.ReadFile(filepath.Join(built, name))
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, to)
		if err := os.WriteFile(out, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return out
	}
	script := func(dir string) string { // what must never run
		out := filepath.Join(dir, "confine")
		if err := os.WriteFile(out, []byte("#!/bin/sh\necho planted \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		plant func(dir string) error
		env   []string
		ok    bool
	}{
		{"as built", func(dir string) error { copyTo(dir, "confine", "confine"); return nil }, nil, true},
		{"named by _CONFINE_FULL", func(dir string) error { copyTo(dir, "confine", "confine"); return nil },
			[]string{"_CONFINE_FULL=" + script(t.TempDir())}, true},
		{"another owner's", func(dir string) error { return os.Chown(script(dir), 65534, 65534) }, nil, false},
		{"group-writable", func(dir string) error { return os.Chmod(script(dir), 0o775) }, nil, false},
		{"writable by others", func(dir string) error { return os.Chmod(copyTo(dir, "confine", "confine"), 0o757) }, nil, false},
		{"a symlink", func(dir string) error {
			return os.Symlink(copyTo(dir, "confine", "confine.real"), filepath.Join(dir, "confine"))
		}, nil, false},
		{"confine-run itself", func(dir string) error {
			return os.Link(filepath.Join(dir, "confine-run"), filepath.Join(dir, "confine"))
		}, nil, false},
		{"missing", func(string) error { return nil }, nil, false},
	} {
		dir, err := os.MkdirTemp("", "confine-slim-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		slim := copyTo(dir, "confine-run", "confine-run")
		if err := tc.plant(dir); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hand-back to itself loops
		defer cancel()
		cmd := exec.CommandContext(ctx, slim, "version")
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "planted") {
			t.Errorf("%s: confine-run ran the planted binary: %s", tc.name, out)
		}
		if tc.ok && (err != nil || !strings.HasPrefix(string(out), "confine ")) {
			t.Errorf("%s: confine-run version: %v\n%s", tc.name, err, out)
		}
		if !tc.ok && (err == nil || !strings.Contains(string(out), "running the full binary")) {
			t.Errorf("%s: confine-run version: %v, want it refused\n%s", tc.name, err, out)
		}
	}
	// A full binary under another name keeps its runs: confine-run would hand them back
	// to another binary.
	file := filepath.Join(t.TempDir(), "slim.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "env:", "pause:200ms")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "confine-slim-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	other := copyTo(dir, "confine", "confine-other")
	copyTo(dir, "confine-run", "confine-run")
	if exe, _ := runExe(t, other, nil, "run", file); exe != other {
		t.Errorf("confine-other run: the run's process runs %s, want %s", exe, other)
	}
}

// TestSlimPipedPlan: a Plan read from a pipe reaches the full binary unread when the run
// goes there (here for --show-denials): a hand-back after reading it left an empty pipe.
func TestSlimPipedPlan(t *testing.T) {
	testenv.Require(t, testenv.Root)
	file := filepath.Join(t.TempDir(), "slim.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "env:")), 0o644); err != nil {
		t.Fatal(err)
	}
	planJSON := testenv.Run(t, confineBin, "compile", file, "--format", "json")
	// confine keeps a run with --show-denials itself (stage_slim.c's needs_full):
	// confine-run started directly hands it back.
	for _, bin := range []string{confineBin, filepath.Join(filepath.Dir(confineBin), "confine-run")} {
		for _, args := range [][]string{
			{"run", "--plan", "/dev/stdin"},
			{"run", "--show-denials", "--plan", "/dev/stdin"},
		} {
			cmd := exec.Command(bin, args...)
			cmd.Stdin = strings.NewReader(planJSON) // a pipe
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"ok":true`) {
				t.Errorf("%s %v with the Plan on a pipe: %v\n%s", filepath.Base(bin), args, err, out)
			}
		}
	}
}
