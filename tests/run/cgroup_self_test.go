//go:build linux

package run_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// v1Hierarchies are the v1 hierarchies a component with memory, pids and cpu limits is
// put in on this host's layout; on a v2 host the test does not apply.
var v1Hierarchies = []string{"memory", "pids", "cpu"}

func requireV1(t *testing.T) {
	t.Helper()
	for _, h := range v1Hierarchies {
		var st unix.Statfs_t
		if unix.Statfs("/sys/fs/cgroup/"+h, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			testenv.Missing(t, "no cgroup v1 %s hierarchy at /sys/fs/cgroup/%s", h, h)
		}
	}
}

// TestCgroupSelfAttach: on a v1 host the C stage moves itself into its cgroup, in every
// hierarchy, before its exec (the supervisor writes no pid); the Go init is moved by the
// supervisor. Under both, the component's first look at /proc/self/cgroup finds itself
// in its cgroup in memory, pids and cpu, and the pids and memory limits hold.
func TestCgroupSelfAttach(t *testing.T) {
	testenv.Require(t, testenv.Root)
	requireV1(t)
	dir := t.TempDir()
	src := "version: 1\nname: cgself\nrun: {command: [\"" + probeDir + "/probe\"], user: \"1000:1000\"}\n" +
		"filesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\nresources: {pids: 64, memory: 64Mi, cpu: 0.5}\n"
	file := filepath.Join(dir, "cgself.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"c", "go"} {
		cmd := exec.Command(confineBin, "run", file, "--", "cat:/proc/self/cgroup", "fork:4", "fork:200", "alloc:16", "alloc:256")
		cmd.Env = append(os.Environ(), "CONFINE_STAGE="+mode, "CONFINE_TRACE=1")
		var out strings.Builder
		cmd.Stdout = &out
		code, stderr := exitOf(cmd)
		if code != 128+9 {
			t.Fatalf("%s: exit %d, want 137 (256 MiB under 64Mi, killed by the OOM killer):\n%s", mode, code, stderr)
		}
		want := fmt.Sprintf("/confine/cgself-%d-1", cmd.Process.Pid)
		res := results(out.String())
		r := res["cat:/proc/self/cgroup"]
		if !r.OK {
			t.Fatalf("%s: cat: %+v", mode, r)
		}
		for _, h := range v1Hierarchies {
			if p := v1Line(r.Out, h); !strings.HasSuffix(p, want) {
				t.Errorf("%s: at its start the component is in %q in the %s hierarchy, want %s", mode, p, h, want)
			}
		}
		checkLimits(t, mode, res)
		// Which side moved it: the C stage's own step, or the supervisor's write.
		self := strings.Contains(stderr, "confine-trace init   cgroups") && strings.Contains(stderr, "cgroup_open_tasks")
		byParent := strings.Contains(stderr, "parent cgroup_attach")
		if self != (mode == "c") || byParent != (mode == "go") {
			t.Errorf("%s: moved by the stage itself %v, by the supervisor %v:\n%s", mode, self, byParent, stderr)
		}
		if mode == "c" && strings.Index(stderr, "init   cgroups") > strings.Index(stderr, "init   seccomp") {
			t.Errorf("c: the stage moved itself after seccomp:\n%s", stderr)
		}
		for _, h := range v1Hierarchies {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, want)); !os.IsNotExist(err) {
				t.Errorf("%s: the cgroup %s is still there in %s (%v)", mode, want, h, err)
			}
		}
	}
}

// checkLimits checks the probe results of "fork:4", "fork:200" and "alloc:16" under
// pids 64 and memory 64Mi: what fits works, what does not is refused.
func checkLimits(t *testing.T, label string, res map[string]result) {
	t.Helper()
	if r := res["fork:4"]; !r.OK {
		t.Errorf("%s: 4 children under pids 64 failed: %+v", label, r)
	}
	if r := res["fork:200"]; r.OK {
		t.Errorf("%s: 200 children under pids 64 all started", label)
	}
	if r := res["alloc:16"]; !r.OK {
		t.Errorf("%s: 16 MiB under 64Mi failed: %+v", label, r)
	}
}

// v1Line is the path of hierarchy h in a /proc/PID/cgroup text ("N:h:/path"), which
// may list several controllers in one hierarchy ("N:cpu,cpuacct:/path").
func v1Line(text, h string) string {
	for line := range strings.Lines(text) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) == 3 && (f[1] == h || strings.HasPrefix(f[1], h+",") || strings.HasSuffix(f[1], ","+h)) {
			return f[2]
		}
	}
	return ""
}

// TestCgroupSelfAttachFails: when the C stage's write to a tasks descriptor fails (here
// refused with EDOM by a seccomp filter the stage inherits from the launching thread),
// the launch fails at the cgroups step, worded as the supervisor's attach is and naming
// the hierarchy's tasks file, and leaves no process, cgroup or root directory.
func TestCgroupSelfAttachFails(t *testing.T) {
	testenv.Require(t, testenv.Root)
	requireV1(t)
	if runtime.GOARCH != "amd64" {
		testenv.Missing(t, "the write filter is written for x86_64, this is %s", runtime.GOARCH)
	}
	t.Setenv("CONFINE_STAGE", "c") // the stage's own move is what fails
	c := compile(t, "resources: {pids: 16, memory: 64Mi, cpu: 0.5}\n", "pid:")
	c.Sysctls = nil // their one-byte writes ("0") would be refused first
	before := ownRoots()
	launch := func() error {
		errc := make(chan error, 1)
		go func() {
			// The filter stays on this thread, which is never unlocked: it ends with
			// the goroutine.
			runtime.LockOSThread()
			if err := refuseOneByteWrites(); err != nil {
				errc <- err
				return
			}
			sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{}, nil)
			if err == nil {
				sb.Wait() // it should have failed: reap it all the same
			}
			errc <- err
		}()
		return <-errc
	}
	launch() // opens what the supervisor keeps open (the nftables socket, …)
	fds := openFDs(t)
	err := launch()
	if n := openFDs(t); n > fds {
		t.Errorf("the failed launch left %d descriptors open in the supervisor", n-fds)
	}
	var se *sandbox.StepError
	if !errors.As(err, &se) || se.Step != "cgroups" {
		t.Fatalf("got %v, want a StepError at cgroups", err)
	}
	if !strings.Contains(se.Err, "/sys/fs/cgroup/") || !strings.Contains(se.Err, "/tasks: "+unix.EDOM.Error()) {
		t.Errorf("the error does not name the hierarchy's tasks file and the errno: %v", se)
	}
	t.Log(se)
	if after := ownRoots(); len(after) > len(before) {
		t.Errorf("root directory left behind: %v", after)
	}
	assertNoCgroups(t)
	out, _ := exec.Command("pgrep", "-f", probeDir+"/probe pid:").Output()
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("processes left behind: %s", out)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// refuseOneByteWrites makes write(2) of exactly one byte fail with EDOM on this thread
// and the processes it starts.
func refuseOneByteWrites() error {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: 7, K: unix.AUDIT_ARCH_X86_64},
		{Code: ld, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 0, Jf: 5, K: unix.SYS_WRITE},
		{Code: ld, K: 32}, // args[2], low half
		{Code: jeq, Jt: 0, Jf: 3, K: 1},
		{Code: ld, K: 36}, // args[2], high half
		{Code: jeq, Jt: 0, Jf: 1, K: 0},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EDOM)},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}
