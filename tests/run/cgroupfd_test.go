//go:build linux

package run_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// cgroup2Parent makes a parent cgroup of the test's own on the host's cgroup v2
// hierarchy (the unified mount of a hybrid host, or /sys/fs/cgroup on v2), removed after.
func cgroup2Parent(t *testing.T) string {
	t.Helper()
	mount := ""
	for _, m := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(m, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mount = m
			break
		}
	}
	if mount == "" {
		testenv.Missing(t, "no cgroup2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup")
	}
	parent := filepath.Join(mount, fmt.Sprintf("confine-test-cgfd-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join(parent, "confine", "*", "cgroup.procs"))
		for _, d := range dirs {
			t.Errorf("cgroup left behind: %s", filepath.Dir(d))
			unix.Rmdir(filepath.Dir(d))
		}
		unix.Rmdir(filepath.Join(parent, "confine"))
		if err := unix.Rmdir(parent); err != nil {
			t.Errorf("removing %s: %v", parent, err)
		}
	})
	return parent
}

// unifiedLine is the "0::" line of a /proc/PID/cgroup file's text.
func unifiedLine(text string) string {
	for line := range strings.Lines(text) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return p
		}
	}
	return ""
}

// launchInCgroup2 runs the probe printing its own /proc/self/cgroup with its cgroup on
// parent's hierarchy, and returns the init stage's cgroup as the host saw it before the
// go signal, the probe's own view, the cgroup's path from the mount, and whether it was
// cloned in. With sp the spawner starts it, and must.
func launchInCgroup2(t *testing.T, parent string, sp *sandbox.Spawner) (before, probe, want string, cloned bool, refused error) {
	t.Helper()
	c := compile(t, "", "cat:/proc/self/cgroup")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var stdout, stderr bytes.Buffer
	opts := sandbox.Options{Stdout: &stdout, Stderr: &stderr, Freezer: true, Cgroup2Root: parent,
		Attach: func(s *sandbox.Sandbox) error {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", s.Pid()))
			before = unifiedLine(string(b))
			return err
		}, Spawner: sp}
	sb, err := sandbox.Launch(context.Background(), c, opts, nil)
	if err != nil {
		t.Fatalf("launch: %v\nstderr: %s", err, stderr.String())
	}
	if spawned, why := sb.Spawned(); spawned != (sp != nil) {
		t.Fatalf("spawned %v (%v), want %v", spawned, why, sp != nil)
	}
	cloned, refused = sb.ClonedIntoCgroup()
	want = filepath.Base(parent) + sb.Cgroup().Path
	if code, err := sb.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\nstderr: %s", code, err, stderr.String())
	}
	r := results(stdout.String())["cat:/proc/self/cgroup"]
	if !r.OK {
		t.Fatalf("probe: %+v", r)
	}
	probe = unifiedLine(r.Out)
	if _, err := os.Stat(filepath.Join(filepath.Dir(parent), want)); !os.IsNotExist(err) {
		t.Errorf("the cgroup %s is still there after Wait (%v)", want, err)
	}
	return before, probe, want, cloned, refused
}

// On a cgroup v2 hierarchy the init stage starts inside its cgroup (CLONE_INTO_CGROUP).
// Its cgroup namespace, made by the same clone, is rooted where the clone put it: the
// probe sees "/", which it could not had it started in the supervisor's cgroup and been
// moved (the fallback below sees its path from there). The host sees it in its cgroup
// before the go signal, before any attach could have run. The spawner's clone does the
// same.
func TestCloneIntoCgroup(t *testing.T) {
	testenv.Require(t, testenv.Root)
	parent := cgroup2Parent(t)
	for _, sp := range []*sandbox.Spawner{nil, sharedSpawner()} {
		before, probe, want, cloned, refused := launchInCgroup2(t, parent, sp)
		if !cloned || refused != nil {
			t.Fatalf("spawner %v: not cloned into its cgroup (refused: %v)", sp != nil, refused)
		}
		if probe != "/" {
			t.Errorf("spawner %v: the probe's cgroup namespace is rooted elsewhere: it sees %q, want /", sp != nil, probe)
		}
		if !strings.HasSuffix(before, want) {
			t.Errorf("spawner %v: before the go signal the init stage was in %q, want %q", sp != nil, before, want)
		}
	}
}

// A kernel (or a seccomp profile, as Docker's older ones) that refuses clone3 gets the
// old start: a fresh exec.Cmd, then the attach, and the component is still in its cgroup.
func TestCloneIntoCgroupRefused(t *testing.T) {
	testenv.Require(t, testenv.Root)
	parent := cgroup2Parent(t)
	// The filter stays on this thread, which is never unlocked: it ends with the test.
	runtime.LockOSThread()
	refuseClone3(t)
	_, probe, want, cloned, refused := launchInCgroup2(t, parent, nil)
	if cloned || !errors.Is(refused, unix.ENOSYS) {
		t.Fatalf("cloned %v, refused %v: want the fallback after ENOSYS", cloned, refused)
	}
	if !strings.HasSuffix(probe, want) {
		t.Errorf("the probe's cgroup is %q, want its path from the supervisor's cgroup to %q", probe, want)
	}
}

// refuseClone3 makes clone3(2) fail with ENOSYS on this thread (and its children) only.
func refuseClone3(t *testing.T) { t.Helper(); refuseSyscall(t, unix.SYS_CLONE3, 0) }

// refuseSyscall makes system call nr fail with ENOSYS on this thread (every thread with
// SECCOMP_FILTER_FLAG_TSYNC in flags) and its children.
func refuseSyscall(t *testing.T, nr uint32, flags uintptr) {
	t.Helper()
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: 3, K: unix.AUDIT_ARCH_X86_64},
		{Code: ld, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 0, Jf: 1, K: nr},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
	if runtime.GOARCH != "amd64" {
		testenv.Missing(t, "the filter is written for x86_64, this is %s", runtime.GOARCH)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		t.Fatalf("seccomp: %v", e)
	}
}
