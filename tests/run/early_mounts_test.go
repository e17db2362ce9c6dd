//go:build linux

package run_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// earlyMountEnv runs TestEarlySpareSeesNewMounts's inner part, in a mount namespace of its own.
const earlyMountEnv = "CONFINE_TEST_EARLY_MOUNT"

// TestEarlySpareSeesNewMounts: the lone run's spare copies the mount table as it starts
// (stage_spare.c), and a mount the host makes after that copy, before the request, is
// still in the stage's table: the spawner finds the copy stale and the start does not
// take that spare. Without mounts made meanwhile, the spare is taken (the trace's spawn
// step, no clone). It runs in a private mount namespace this test makes (a re-run of
// the test binary), where `confine run` also starts, so that no host mount is made.
func TestEarlySpareSeesNewMounts(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	if os.Getenv(earlyMountEnv) == "" {
		cmd := exec.Command("/proc/self/exe", "-test.run=^TestEarlySpareSeesNewMounts$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), earlyMountEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS} // and / made private
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestEarlySpareSeesNewMounts")) {
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	later := filepath.Join(probeDir, "early-later")
	if err := os.Mkdir(later, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(later)
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "cat:"+later+"/f")), 0o644); err != nil {
		t.Fatal(err)
	}
	planJSON, err := exec.Command(confineBin, "compile", file, "--format", "json").Output()
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	tmpfs := func(content string) {
		if err := unix.Mount("tmpfs", later, "tmpfs", 0, "mode=0755"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(later, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Each round: what the host does before the run, then between the spare's copy and
	// the request; the file the stage must read then ("": none, and the spare taken).
	rounds := []struct {
		name            string
		before, between func()
		want            string
	}{
		{"none", func() {}, func() {}, ""},
		{"mount", func() {}, func() { tmpfs("made after the copy") }, "made after the copy"},
		// An unmount after the copy: the stage must not see what the host took away.
		{"unmount", func() { tmpfs("unmounted after the copy") }, func() { unix.Unmount(later, 0) }, ""},
	}
	for round, rd := range rounds {
		rd.before()
		out, trace := runEarlyFIFO(t, filepath.Join(dir, fmt.Sprintf("plan%d.fifo", round)), planJSON, rd.between)
		// Without a mount of ours, one made elsewhere on the host (another test) meanwhile
		// refuses the spare as well: run the round again, up to five times.
		for try := 1; rd.name == "none" && try < 5 && strings.Contains(trace, "confine-trace parent spare_refused "); try++ {
			t.Logf("none: the spare was refused (the host's mounts changed): again")
			out, trace = runEarlyFIFO(t, filepath.Join(dir, fmt.Sprintf("plan%d-%d.fifo", round, try)), planJSON, rd.between)
		}
		r := results(out)["cat:"+later+"/f"]
		if rd.want != "" && (!r.OK || r.Out != rd.want) {
			t.Errorf("%s: the stage does not see the host's table of the request: %+v\n%s", rd.name, r, trace)
		}
		if rd.want == "" && r.OK {
			t.Errorf("%s: the stage sees the host's table of the spare's copy: %+v\n%s", rd.name, r, trace)
		}
		if rd.name == "none" && (!strings.Contains(trace, "confine-trace parent spawn ") || strings.Contains(trace, "confine-trace parent clone ")) {
			t.Errorf("no mount made: %+v; want the spare taken (a spawn step, no clone):\n%s", r, trace)
		}
		unix.Unmount(later, unix.MNT_DETACH)
	}
}

// runEarlyFIFO runs `confine run --plan FIFO`, and once its spare has its own mount
// namespace (copied ahead), calls between, then writes the Plan. It returns the run's
// stdout and stderr (its trace).
func runEarlyFIFO(t *testing.T, fifo string, planJSON []byte, between func()) (string, string) {
	t.Helper()
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(confineBin, "run", "--plan", fifo)
	cmd.Env = append(os.Environ(), "CONFINE_TRACE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for i := 0; ; i++ {
		if i == 500 {
			t.Fatalf("no spare with a mount namespace of its own beside the run: %v", spawnersOf(cmd.Process.Pid))
		}
		time.Sleep(10 * time.Millisecond)
		var pid int
		for _, f := range spawnersOf(cmd.Process.Pid) {
			if strings.HasSuffix(f, " confine-spare") {
				fmt.Sscan(f, &pid)
			}
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); pid > 0 && ns != "" && ns != self {
			break
		}
	}
	between()
	if err := os.WriteFile(fifo, planJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}
