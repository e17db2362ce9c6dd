//go:build linux

package run_test

import (
	"bufio"
	"bytes"
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

// TestSlimHandOver: confine is the slim binary, and `confine run` runs in it
// (cmd/confine/slim.go, sandbox/stage/stage_slim.c); a run that needs what it lacks (here
// an audit of denials, or an uplink, seen by the constructor or by main after its
// compile), and every other command, goes to confine-full beside it before anything is
// set up, under the name confine; CONFINE_SLIM=off sends the
// run there too; confine-full keeps every run it is given. Neither leaves a process
// behind, nor its marker in the component's environment.
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
	// An outside destination: the lone run's uplink, which confine hands over (no packet
	// is sent).
	uplink := filepath.Join(dir, "uplink.yaml")
	if err := os.WriteFile(uplink, []byte(policy+"network:\n  connect:\n    - to: 203.0.113.10:80/tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Past what the constructor's guess reads: main hands the run over after its compile.
	late := filepath.Join(dir, "late.yaml")
	if err := os.WriteFile(late, []byte("# "+strings.Repeat("x", 300<<10)+"\n"+policy+"network:\n  connect:\n    - to: 203.0.113.10:80/tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(filepath.Dir(confineBin), "confine-full")
	before := subreaper(t)
	for _, tc := range []struct {
		name, bin string
		env       []string
		args      []string
		want      string
	}{
		{"a policy", confineBin, nil, []string{"run", file}, confineBin},
		{"a Plan", confineBin, nil, []string{"run", "--plan", planFile}, confineBin},
		{"--show-denials", confineBin, nil, []string{"run", "--show-denials", file}, full},
		{"an uplink", confineBin, nil, []string{"run", uplink}, full},
		{"an uplink main finds", confineBin, nil, []string{"run", late}, full},
		{"CONFINE_SLIM=off", confineBin, []string{"CONFINE_SLIM=off"}, []string{"run", file}, full},
		{"confine-full itself", full, nil, []string{"run", file}, full},
		{"confine-full --show-denials", full, nil, []string{"run", "--show-denials", file}, full},
	} {
		exe, comm, out := runExeComm(t, tc.bin, append(tc.env, "SLIM_TEST=yes"), tc.args...)
		if exe != tc.want {
			t.Errorf("%s: the run's process runs %s, want %s", tc.name, exe, tc.want)
		}
		if tc.bin == confineBin && comm != "confine" { // ps and pgrep name it as it was called
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
	if out := testenv.Run(t, confineBin, "version"); !strings.HasPrefix(out, "confine ") {
		t.Errorf("confine version (handed to confine-full): %q", out)
	}
}

// TestSlimGuess: confine hands confine-full a run whose policy or Plan names what it would
// hand over after its compile (an uplink here; an image or a volume alike) before its own
// Go runtime starts (stage_slim.c's input_needs_full): the run starts one Go runtime, so
// its trace has one cli step, where a hand-over after the compile has two.
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
	// Past what the guess reads: confine's Go starts, and hands the run over.
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
		{[]string{"run", plain}, 1}, // in confine itself
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

// TestSlimNotTrusted: confine hands commands only to a confine-full beside it that is a
// regular file owned by confine's owner, executable, writable by nobody else and of
// confine's build (paired), never to a binary its environment names: otherwise it runs
// none of them (saying why), and its plain runs still run in confine. A binary named
// otherwise than confine hands nothing over either way.
func TestSlimNotTrusted(t *testing.T) {
	testenv.Require(t, testenv.Root)
	built := filepath.Dir(confineBin)
	file := filepath.Join(t.TempDir(), "slim.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "env:", "pause:200ms")), 0o644); err != nil {
		t.Fatal(err)
	}
	// An uplink past what the constructor's guess reads: main's hand-over (slim.go's
	// fullExe) checks confine-full itself.
	late := filepath.Join(filepath.Dir(file), "late.yaml")
	if err := os.WriteFile(late, []byte("# "+strings.Repeat("x", 300<<10)+"\n"+probePolicy("", "env:")+"network:\n  connect:\n    - to: 203.0.113.10:80/tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
		out := filepath.Join(dir, "confine-full")
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
		{"as built", func(dir string) error { copyTo(dir, "confine-full", "confine-full"); return nil }, nil, true},
		{"named by _CONFINE_FULL", func(dir string) error { copyTo(dir, "confine-full", "confine-full"); return nil },
			[]string{"_CONFINE_FULL=" + script(t.TempDir())}, true},
		{"a script", func(dir string) error { script(dir); return nil }, nil, false},
		{"another owner's", func(dir string) error { return os.Chown(copyTo(dir, "confine-full", "confine-full"), 65534, 65534) }, nil, false},
		{"group-writable", func(dir string) error { return os.Chmod(copyTo(dir, "confine-full", "confine-full"), 0o775) }, nil, false},
		{"writable by others", func(dir string) error { return os.Chmod(copyTo(dir, "confine-full", "confine-full"), 0o757) }, nil, false},
		{"not executable", func(dir string) error { return os.Chmod(copyTo(dir, "confine-full", "confine-full"), 0o644) }, nil, false},
		{"setuid", func(dir string) error { return syscall.Chmod(copyTo(dir, "confine-full", "confine-full"), 0o4755) }, nil, false},
		{"setgid", func(dir string) error { return syscall.Chmod(copyTo(dir, "confine-full", "confine-full"), 0o2755) }, nil, false},
		{"with file capabilities", func(dir string) error {
			// vfs_cap_data, revision 2, effective: CAP_NET_BIND_SERVICE permitted.
			caps := []byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			return syscall.Setxattr(copyTo(dir, "confine-full", "confine-full"), "security.capability", caps, 0)
		}, nil, false},
		{"a symlink", func(dir string) error {
			return os.Symlink(copyTo(dir, "confine-full", "confine-full.real"), filepath.Join(dir, "confine-full"))
		}, nil, false},
		{"another build's", func(dir string) error { return otherBuild(copyTo(dir, "confine-full", "confine-full")) }, nil, false},
		{"confine itself", func(dir string) error {
			return os.Link(filepath.Join(dir, "confine"), filepath.Join(dir, "confine-full"))
		}, nil, false},
		{"a copy of confine", func(dir string) error { copyTo(dir, "confine", "confine-full"); return nil }, nil, false},
		{"missing", func(string) error { return nil }, nil, false},
	} {
		dir, err := os.MkdirTemp("", "confine-slim-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		slim := copyTo(dir, "confine", "confine")
		if err := tc.plant(dir); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hand-over to itself loops
		defer cancel()
		cmd := exec.CommandContext(ctx, slim, "version")
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "planted") {
			t.Errorf("%s: confine ran the planted binary: %s", tc.name, out)
		}
		if tc.ok && (err != nil || !strings.HasPrefix(string(out), "confine ")) {
			t.Errorf("%s: confine version: %v\n%s", tc.name, err, out)
		}
		if !tc.ok && (err == nil || !strings.Contains(string(out), "running the full binary")) {
			t.Errorf("%s: confine version: %v, want it refused\n%s", tc.name, err, out)
		}
		if !tc.ok {
			cmd := exec.CommandContext(ctx, slim, "run", late)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || strings.Contains(string(out), "planted") || !strings.Contains(string(out), "confine: running the full binary: ") {
				t.Errorf("%s: a run main hands over: %v, want it refused\n%s", tc.name, err, out)
			}
		}
		if exe, _ := runExe(t, slim, tc.env, "run", file); exe != slim {
			t.Errorf("%s: confine run: the run's process runs %s, want %s", tc.name, exe, slim)
		}
	}
	// The full binary under any name keeps its runs, whatever is beside it.
	dir, err := os.MkdirTemp("", "confine-slim-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	other := copyTo(dir, "confine-full", "confine")
	copyTo(dir, "confine", "confine-full")
	if exe, _ := runExe(t, other, nil, "run", file); exe != other {
		t.Errorf("a full binary named confine: the run's process runs %s, want %s", exe, other)
	}
}

// otherBuild makes the confine-full at full one of another build than the confine beside
// it, as far as its pairing tells (the Makefile's PAIR): the head of its Go build ID's
// last part differs.
func otherBuild(full string) error {
	f, err := elf.Open(full)
	if err != nil {
		return err
	}
	note := f.Section(".note.go.buildid")
	f.Close()
	if note == nil {
		return fmt.Errorf("%s has no Go build ID", full)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return err
	}
	desc := data[note.Offset+16 : note.Offset+note.Size] // after the note's header and "Go\0\0"
	last := bytes.LastIndexByte(desc, '/')
	if last < 0 || len(desc)-last < 2 {
		return fmt.Errorf("%s: build ID %q has no content hash", full, desc)
	}
	desc[last+1] ^= 1
	return os.WriteFile(full, data, 0o755)
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
	// confine hands a run with --show-denials to confine-full before it reads anything
	// (stage_slim.c's needs_full), and runs the other itself; confine-full runs both.
	for _, bin := range []string{confineBin, filepath.Join(filepath.Dir(confineBin), "confine-full")} {
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
