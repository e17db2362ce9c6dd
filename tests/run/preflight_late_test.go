//go:build linux

package run_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestPreflightAfterTheProgram: `confine run` hands the early spawner's spare its
// program before the preflight (the trace's spawn line comes before its preflight line),
// and a preflight that refuses still ends the run as before: exit 2, the same words as
// the Go init's start (where the preflight comes first) and no process, cgroup or root
// directory left. A best_effort finding warns once, and the run goes on.
func TestPreflightAfterTheProgram(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "late.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("resources: {pids: 16}\n", "id:")), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subreaper(t)
	out, trace, code := tracedSpareRun(t, "run", file)
	spawn, preflight := strings.Index(trace, "parent spawn "), strings.Index(trace, "parent preflight ")
	if code != 0 || spawn < 0 || preflight < spawn {
		t.Errorf("exit %d; want 0, with the spawn before the preflight:\n%s\n%s", code, out, trace)
	}
	leftNothing(t, before, "a run")

	compiled, err := exec.Command(confineBin, "compile", file, "--format", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	withABI := func(name string, bestEffort bool) string {
		var p plan.Plan
		if err := json.Unmarshal(compiled, &p); err != nil {
			t.Fatal(err)
		}
		c := &p.Components[0]
		c.Requires = append(c.Requires, plan.Requirement{Mechanism: "landlock", MinABI: 99, Why: "a test's"})
		if bestEffort {
			c.BestEffort = append(c.BestEffort, "landlock")
		}
		b, _ := json.Marshal(&p)
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	refused := withABI("refused.json", false)
	out, trace, code = tracedRun(t, "run", "--plan", refused)
	const words = "confine: enforcement cannot be set up:\nrootless: landlock: kernel ABI "
	if code != 2 || !strings.Contains(trace, words) || !strings.Contains(trace, "policy needs 99 (a test's)") {
		t.Errorf("a preflight that refuses: exit %d, want 2 and %q\n%s\n%s", code, words, out, trace)
	}
	leftNothing(t, before, "a refused run")
	goInit := exec.Command(confineBin, "run", "--plan", refused)
	goInit.Env = append(os.Environ(), "CONFINE_STAGE=go")
	if goCode, goErr := exitOf(goInit); goCode != code || goErr != notTraced(trace) {
		t.Errorf("the Go init's start says (exit %d)\n%s\nthe spare's (exit %d)\n%s", goCode, goErr, code, notTraced(trace))
	}

	// best_effort Landlock is the Go init's (exec.Cmd after the spawner is closed): the
	// preflight still comes after the start, and warns once.
	out, trace, code = tracedRun(t, "run", "--plan", withABI("finding.json", true))
	if code != 0 || strings.Count(trace, "confine: warning: rootless: landlock: kernel ABI ") != 1 {
		t.Errorf("a landlock finding: exit %d, want 0 and its warning once\n%s\n%s", code, out, trace)
	}
	leftNothing(t, before, "a run with a finding")
}

// notTraced is stderr without its trace lines.
func notTraced(stderr string) string {
	var keep []string
	for _, line := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(line, "confine-trace ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// TestPreflightRefusedMakesNoVolume: a run with a volume that is not there yet, refused by
// the preflight, leaves no volume in the store (the store's part of the start, readied
// beside it, would make one, and it outlives the run); the same run let through makes it.
func TestPreflightRefusedMakesNoVolume(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	vol := fmt.Sprintf("late-%d", time.Now().UnixNano())
	file := filepath.Join(dir, "vol.yaml")
	policy := "version: 1\nname: latevol\nrun: {command: [\"" + probeDir + "/probe\", \"write:/data/x\"], user: \"0\"}\n" +
		"filesystem: {read: [" + probeDir + "], write: [{path: /data, volume: " + vol + "}]}\nsyscalls: {extends: default}\n"
	if err := os.WriteFile(file, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	compiled, err := exec.Command(confineBin, "compile", file, "--format", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(compiled, &p); err != nil {
		t.Fatal(err)
	}
	p.Components[0].Requires = append(p.Components[0].Requires, plan.Requirement{Mechanism: "landlock", MinABI: 99, Why: "a test's"})
	b, _ := json.Marshal(&p)
	refused := filepath.Join(dir, "refused.json")
	if err := os.WriteFile(refused, b, 0o644); err != nil {
		t.Fatal(err)
	}
	defer confine(t, store, "volume", "rm", vol)
	if code, _, stderr := confine(t, store, "run", "--plan", refused); code != 2 || !strings.Contains(stderr, "confine: enforcement cannot be set up:\n") {
		t.Errorf("a preflight that refuses: exit %d, want 2\n%s", code, stderr)
	}
	if _, out, _ := confine(t, store, "volume", "ls"); strings.Contains(out, vol) {
		t.Errorf("a refused run made its volume %s:\n%s", vol, out)
	}
	if code, out, stderr := confine(t, store, "run", file); code != 0 || !results(out)["write:/data/x"].OK {
		t.Fatalf("the run let through: exit %d\n%s\n%s", code, out, stderr)
	}
	if _, out, _ := confine(t, store, "volume", "ls"); !strings.Contains(out, vol) {
		t.Errorf("the run let through made no volume %s:\n%s", vol, out)
	}
}

// TestLateRestartThroughEarlySpawner: a preflight that finds another skip than the start
// was rendered for (here best_effort cgroups, in a mount namespace whose /sys/fs/cgroup
// is an empty tmpfs) kills the early spawner's start and starts over through exec.Cmd
// with that skip: the run goes on with the warning once, and leaves no spawner, spare,
// init stage or root directory.
func TestLateRestartThroughEarlySpawner(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare (util-linux): %v", err)
	}
	file := filepath.Join(t.TempDir(), "be.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("resources: {pids: 16}\nbest_effort: [cgroups]\n", "id:")), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subreaper(t)
	cmd := exec.Command(unshare, "-m", "sh", "-c", `mount -t tmpfs none /sys/fs/cgroup && exec "$0" run "$1"`, confineBin, file)
	cmd.Env = append(os.Environ(), "CONFINE_TRACE=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	trace := stderr.String()
	spawn, clone := strings.Index(trace, "parent spawn "), strings.Index(trace, "parent clone ")
	if code := cmd.ProcessState.ExitCode(); code != 0 || !results(stdout.String())["id:"].OK || spawn < 0 || clone < spawn ||
		strings.Count(trace, "confine: warning: rootless: cgroups: ") != 1 {
		t.Errorf("exit %d; want 0, the spawn then exec.Cmd's clone, the warning once:\n%s\n%s", code, stdout.String(), trace)
	}
	leftNothing(t, before, "a run started over")
	if roots, _ := filepath.Glob(filepath.Join(sandbox.RootsDir(), fmt.Sprintf("confine-root-%d-*", cmd.Process.Pid))); len(roots) > 0 {
		t.Errorf("root directories left: %v", roots)
	}
}
