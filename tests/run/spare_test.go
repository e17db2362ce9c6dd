//go:build linux

package run_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// waitSpare waits for sp's spare, one other than last, and returns its pid.
func waitSpare(t *testing.T, sp *sandbox.Spawner, last int) int {
	t.Helper()
	for i := 0; ; i++ {
		pid := sp.Spare()
		// Named once it runs: the notice may come first.
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); pid != 0 && pid != last && string(comm) == "confine-spare\n" {
			return pid
		} else if i == 500 {
			t.Fatalf("no new spare (last %d)", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSpare: a start takes the spare the spawner cloned ahead, and the next start the
// next spare. The stage's namespaces are all new: none is the supervisor's or the
// spawner's (the mount namespace, which the spare makes at the request, too). What the
// spare made ahead is the request's: a new session it leads, and lo up (a server on
// 127.0.0.1 answers).
func TestSpare(t *testing.T) {
	before := childrenOf(os.Getpid())
	sp := startSpawner(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := compile(t, "network:\n  listen:\n    - port: 9099/tcp\n      from: [127.0.0.1]\n", "id:", "read:"+probeDir+"/probe", "read:/etc/passwd",
		"session:", "serve:tcp/127.0.0.1:9099", "connect:127.0.0.1:9099")
	spare := 0
	for round := range 2 {
		spare = waitSpare(t, sp, spare)
		// At the go signal's wait: every namespace is there, the mount one made already.
		nsNew := func(sb *sandbox.Sandbox) error {
			waitRecvmsg(t, sb.Pid(), 5)
			for _, ns := range []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"} {
				stage, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", sb.Pid(), ns))
				self, _ := os.Readlink("/proc/self/ns/" + ns)
				spawner, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", sp.Pid(), ns))
				if stage == "" || stage == self || stage == spawner {
					t.Errorf("round %d: the stage's %s namespace %q is not new (supervisor %q, spawner %q)", round, ns, stage, self, spawner)
				}
			}
			return nil
		}
		sb, out := launchWith(t, c, sandbox.Options{Spawner: sp, Attach: nsNew})
		got, err := sb.Spawned()
		if code, werr := sb.Wait(); !got || err != nil || sb.Pid() != spare || code != 0 || werr != nil {
			t.Fatalf("round %d: spawned %v (%v) as pid %d, exit %d (%v); want the spare %d", round, got, err, sb.Pid(), code, werr, spare)
		}
		if res := results(out.String()); !res["id:"].OK || !res["read:"+probeDir+"/probe"].OK || res["read:/etc/passwd"].OK ||
			res["session:"].Out != "1 1" || !res["connect:127.0.0.1:9099"].OK {
			t.Errorf("round %d: probes %+v", round, res)
		}
	}
	// Close reaps the last spare, which exits at the spawner's EOF: nothing is left.
	sp.Close()
	if left := newChildren(before); len(left) > 0 {
		t.Errorf("left after Close: %v", left)
	}
}

// newChildren are this process's children not in before.
func newChildren(before map[int]string) map[int]string {
	left := map[int]string{}
	var own []int // the shared spawner and its spare, made since before by another test's start
	if sp := shared.Load(); sp != nil {
		own = []int{sp.Pid(), sp.Spare()}
	}
	for pid, state := range childrenOf(os.Getpid()) {
		if _, ok := before[pid]; !ok && !slices.Contains(own, pid) {
			left[pid] = state
		}
	}
	return left
}

// TestSpareNotForCgroupFD: a start that needs CLONE_INTO_CGROUP (a cgroup v2 descriptor)
// cannot take the spare, whose cgroup is fixed at its clone: it is cloned fresh into its
// cgroup, and the spare stays for the next start, which takes it.
func TestSpareNotForCgroupFD(t *testing.T) {
	testenv.Require(t, testenv.Root)
	parent := cgroup2Parent(t)
	sp := startSpawner(t)
	spare := waitSpare(t, sp, 0)
	_, probe, _, cloned, refused := launchInCgroup2(t, parent, sp)
	if !cloned || refused != nil || probe != "/" {
		t.Fatalf("not cloned into its cgroup (%v; it sees %q)", refused, probe)
	}
	if sandbox.Gone(spare) {
		t.Fatal("the spare was used or lost by a start with a cgroup descriptor")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, _ := launchWith(t, compile(t, "", "id:"), sandbox.Options{Spawner: sp})
	if code, err := sb.Wait(); code != 0 || err != nil || sb.Pid() != spare {
		t.Errorf("the next start: pid %d, exit %d, %v; want the spare %d", sb.Pid(), code, err, spare)
	}
}

// spareMountEnv runs TestSpareSeesNewMounts's inner part, in a mount namespace of its own.
const spareMountEnv = "CONFINE_TEST_SPARE_MOUNT"

// TestSpareSeesNewMounts: a mount made after the spare's clone is in the stage's mount
// namespace, which the spare copies at the request, not at its clone. It runs in a
// private mount namespace this test makes (a re-run of the test binary), where the
// spawner also starts, so that no host mount is made.
func TestSpareSeesNewMounts(t *testing.T) {
	testenv.Require(t, testenv.Root)
	if os.Getenv(spareMountEnv) == "" {
		if os.Getenv("CONFINE_STAGE") == "go" {
			t.Skip("the Go init has no spawner")
		}
		cmd := exec.Command("/proc/self/exe", "-test.run=^TestSpareSeesNewMounts$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), spareMountEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS} // and / made private
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestSpareSeesNewMounts")) {
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		}
		return
	}
	sp := startSpawner(t)
	spare := waitSpare(t, sp, 0)
	dir := filepath.Join(probeDir, "later")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("made after the spare"), 0o644); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, out := launchWith(t, compile(t, "", "cat:"+dir+"/f"), sandbox.Options{Spawner: sp})
	if code, err := sb.Wait(); code != 0 || err != nil || sb.Pid() != spare {
		t.Fatalf("pid %d, exit %d, %v; want the spare %d", sb.Pid(), code, err, spare)
	}
	if r := results(out.String())["cat:"+dir+"/f"]; !r.OK || r.Out != "made after the spare" {
		t.Errorf("the stage does not see the mount made after the spare's clone: %+v", r)
	}
}

// spareKilledEnv makes this test binary start a spawner, print its pid and its spare's,
// and wait to be killed.
const spareKilledEnv = "CONFINE_TEST_SPARE_KILLED"

func init() {
	if os.Getenv(spareKilledEnv) == "" {
		return
	}
	sp, err := sandbox.StartSpawner()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for sp.Spare() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(sp.Pid(), sp.Spare())
	select {}
}

// TestSpareSupervisorKilled: a supervisor killed with SIGKILL leaves neither its spawner
// nor the spare: the spare's parent-death signal (it is the supervisor's child) ends it.
func TestSpareSupervisorKilled(t *testing.T) {
	startSpawner(t) // the skips of the Go init and of no root
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), spareKilledEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var line [64]byte
	n, _ := stdout.Read(line[:])
	f := strings.Fields(string(line[:n]))
	if len(f) != 2 {
		t.Fatalf("the supervisor said %q", line[:n])
	}
	spawner, _ := strconv.Atoi(f[0])
	spare, _ := strconv.Atoi(f[1])
	if childrenOf(cmd.Process.Pid)[spare] == "" {
		t.Fatalf("the spare %d is not the supervisor's child", spare)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for _, pid := range []int{spawner, spare} {
		for i := 0; !sandbox.Gone(pid); i++ {
			if i == 250 {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("%d outlived its killed supervisor", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestSpareKilled: a spare killed while it waits is not used: the next start is cloned
// fresh and runs whole, and the dead spare is reaped then, not left a zombie till Close.
func TestSpareKilled(t *testing.T) {
	sp := startSpawner(t)
	spare := waitSpare(t, sp, 0)
	syscall.Kill(spare, syscall.SIGKILL)
	for i := 0; childrenOf(os.Getpid())[spare] != "Z"; i++ {
		if i == 500 {
			t.Fatalf("the killed spare %d is not a zombie", spare)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, out := launchWith(t, compile(t, "", "id:", "read:/etc/passwd"), sandbox.Options{Spawner: sp})
	got, why := sb.Spawned()
	if code, err := sb.Wait(); !got || why != nil || code != 0 || err != nil || sb.Pid() == spare {
		t.Fatalf("spawned %v (%v) as %d, exit %d, %v", got, why, sb.Pid(), code, err)
	}
	if res := results(out.String()); !res["id:"].OK || res["read:/etc/passwd"].OK {
		t.Errorf("probes %+v", res)
	}
	if state, ok := childrenOf(os.Getpid())[spare]; ok {
		t.Errorf("the killed spare %d is still this process's child (%s)", spare, state)
	}
}
