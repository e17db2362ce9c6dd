//go:build linux

package run_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestFirewallAhead: `confine run` loads the component's firewall into its early
// spare's network namespace before the spawn (the trace's nftables_ahead, and no
// nftables step after the spawn), and that table is the component's when its first
// instruction runs: its first probe lists it. A firewall that fails to load there
// fails the run at step nftables, exit 2, and leaves no process, cgroup nor root
// directory behind.
func TestFirewallAhead(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	skipInGoInitPass(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fw.yaml")
	src := strings.Replace(probePolicy("capabilities: [NET_ADMIN]\nresources: {pids: 16}\nnetwork:\n  listen:\n    - port: 8080/tcp\n      from: [10.1.2.0/24]\n",
		"nfttables:"), "name: rootless", "name: ahead", 1)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subreaper(t)
	out, trace, code := tracedSpareRun(t, "run", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, trace)
	}
	var r struct {
		OK       bool
		Out, Err string
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &r); err != nil || !r.OK {
		t.Fatalf("nfttables: %+v (%v)\n%s", r, err, out)
	}
	if r.Out != "1 confine" { // NFPROTO_INET, the Plan's table, and nothing else
		t.Errorf("at its first instruction the component's namespace holds %q, want its table only", r.Out)
	}
	if !strings.Contains(trace, "parent nftables_ahead ") || strings.Contains(trace, "parent nftables ") ||
		!strings.Contains(trace, "parent spawn ") {
		t.Errorf("want the firewall loaded ahead and the spawner's start:\n%s", trace)
	}
	leftNothing(t, before, "a run")

	// The same Plan with a firewall the kernel will not load, ahead.
	compiled, err := exec.Command(confineBin, "compile", file, "--format", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(compiled, &p); err != nil {
		t.Fatal(err)
	}
	p.Components[0].Net.Firewall.Family = "bridge"
	broken, _ := json.Marshal(&p)
	planFile := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(planFile, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	out, trace, code = tracedRun(t, "run", "--plan", planFile)
	if code != 2 || !strings.Contains(trace, "at nftables") || !strings.Contains(trace, "parent nftables_ahead ") {
		t.Errorf("a firewall that fails ahead: exit %d, want 2 at step nftables, from the load ahead\n%s\n%s", code, out, trace)
	}
	leftNothing(t, before, "a failed run")
}

// tracedRun runs confine with CONFINE_TRACE=1: its stdout, stderr and exit status. It
// checks, after, that the run's cgroups and root directories (named by its pid) are gone.
func tracedRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(confineBin, args...)
	cmd.Env = append(os.Environ(), "CONFINE_TRACE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	mine := fmt.Sprintf("-%d-", cmd.Process.Pid)
	for _, d := range []string{"/sys/fs/cgroup/memory/confine", "/sys/fs/cgroup/pids/confine", "/sys/fs/cgroup/cpu/confine", "/sys/fs/cgroup/confine"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() && strings.Contains(e.Name(), mine) {
				t.Errorf("%v: cgroup %s/%s left behind", args, d, e.Name())
			}
		}
	}
	if roots, _ := filepath.Glob(filepath.Join(sandbox.RootsDir(), "confine-root"+mine+"*")); len(roots) > 0 {
		t.Errorf("%v: root directories left behind: %v", args, roots)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// tracedSpareRun is tracedRun of a run that is to take the early spawner's spare. The
// spawner refuses a spare whose copy of the host's mounts went stale (another test, or
// anything else on the host, mounted meanwhile: spare_refused), and the run then starts
// from exec.Cmd's clone, correctly, but without what the caller checks of the spare's
// path: it runs again, up to five times.
func tracedSpareRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	for try := 1; ; try++ {
		out, trace, code := tracedRun(t, args...)
		if try == 5 || !strings.Contains(trace, "confine-trace parent spare_refused ") {
			return out, trace, code
		}
		t.Logf("%v: the spare was refused (the host's mounts changed): again", args)
	}
}

// leftNothing: no process of the run (spawner, spare, init stage) outlived it.
func leftNothing(t *testing.T, before map[int]string, what string) {
	t.Helper()
	for pid, state := range newChildren(before) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		t.Errorf("%s: process %d (%s, %s) left behind", what, pid, strings.TrimSpace(string(comm)), state)
	}
}

// TestCLIForwardsSignals: a SIGTERM to `confine run` once its component runs reaches the
// component (its handler reports it), and the run exits with the component's status.
func TestCLIForwardsSignals(t *testing.T) {
	testenv.Require(t, testenv.Root)
	file := filepath.Join(t.TempDir(), "term.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "term:ready")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(confineBin, "run", file)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		t.Fatalf("no ready line: %q, %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(r)
	err := cmd.Wait()
	if err != nil || !strings.Contains(string(rest), `"out":"terminated"`) {
		t.Errorf("after SIGTERM: %v, output %s; want the component to report it and exit 0", err, rest)
	}
}
