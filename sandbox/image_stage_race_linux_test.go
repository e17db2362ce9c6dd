//go:build cgo && linux

package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// runStageOps runs the ops add gives, then execs args, as the C stage does, in a child of
// this test binary in a mount namespace of its own. It returns the exec'd output and the
// stage's failure as the parent words it ("" when it ran).
func runStageOps(t *testing.T, add func(p *stage.Program), args ...string) (out, failure string) {
	t.Helper()
	return runStage(t, add, nil, args...)
}

// runStage is runStageOps with beforeMounts, given the stage's pid, run before the mounts
// socket closes (OP_RECV_MOUNTS waits there until then): the rename tests do a volume's
// co-tenant's swaps from this test's mount namespace there.
func runStage(t *testing.T, add func(p *stage.Program), beforeMounts func(pid int, mounts *os.File), args ...string) (out, failure string) {
	t.Helper()
	cfg := &initConfig{Component: plan.Component{Process: plan.Process{Args: args, Env: []string{"PATH=/usr/bin:/bin"}}}}
	p := &stage.Program{}
	p.Step("mounts")
	p.Add(stage.OpMount, []uint64{unix.MS_REC | unix.MS_PRIVATE, 0}, []string{"", "/", "", ""}, nil)
	add(p)
	renderExec(cfg, p)
	out, _, failure = stageChild(t, p, beforeMounts)
	return out, failure
}

// TestSafeTargetHeldAcrossTheMount: OP_SAFE_TARGET checks a target by descriptor, and
// the mount that follows lands on what it checked, not on what the path names by then.
// A volume is shared with components that run at the same time: one of them can put a
// link where the check saw a directory (here a tmpfs over the parent and a link in it
// stand for that swap). The mount must not follow the link to the host directory.
func TestSafeTargetHeldAcrossTheMount(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	root, outside, src := filepath.Join(dir, "root"), filepath.Join(dir, "outside"), filepath.Join(dir, "src")
	for _, d := range []string{filepath.Join(root, "data", "tmp"), filepath.Join(root, "data", "bind"), filepath.Join(root, "etc"), outside, src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(src, "marker"), []byte("src"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "hosts"), nil, 0o644)
	swap := func(p *stage.Program, parent, name string) { // what a concurrent writer of the volume can do
		p.Add(stage.OpMount, []uint64{0, 0}, []string{"tmpfs", filepath.Join(root, parent), "tmpfs", ""}, nil)
		p.Add(stage.OpSymlink, nil, []string{outside, filepath.Join(root, parent, name)}, nil)
	}
	cases := []struct {
		name, at, opts string // where the mount must be, and its options
		add            func(p *stage.Program)
	}{
		{"tmpfs", "data/tmp", "rw", func(p *stage.Program) {
			p.Add(stage.OpSafeTarget, []uint64{1}, []string{root, "data/tmp", ""}, nil)
			swap(p, "data", "tmp")
			p.Add(stage.OpMount, []uint64{0, 1}, []string{"tmpfs", filepath.Join(root, "data/tmp"), "tmpfs", ""}, nil)
		}},
		{"bind", "data/bind", "ro,nosuid,nodev", func(p *stage.Program) {
			p.Add(stage.OpSafeTarget, []uint64{2}, []string{root, "data/bind", src}, nil)
			swap(p, "data", "bind")
			p.Add(stage.OpBind, []uint64{99, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RDONLY, 0}, []string{src, filepath.Join(root, "data/bind")}, nil)
			p.Add(stage.OpReadonly, nil, nil, nil)
		}},
		{"hosts", "etc/hosts", "ro,nosuid,nodev,noexec", func(p *stage.Program) {
			p.Add(stage.OpStageHosts, nil, []string{root, "127.0.0.1 x\n", ""}, nil)
			p.Add(stage.OpSafeTarget, []uint64{0}, []string{root, "etc/hosts", ""}, nil)
			p.Add(stage.OpMount, []uint64{0, 0}, []string{"tmpfs", filepath.Join(root, "etc"), "tmpfs", ""}, nil)
			p.Add(stage.OpSymlink, nil, []string{filepath.Join(outside, "hosts"), filepath.Join(root, "etc", "hosts")}, nil)
			p.Add(stage.OpMountHosts, []uint64{0, 0}, []string{filepath.Join(root, "etc/hosts")}, nil)
		}},
	}
	for _, tc := range cases {
		out, failure := runStageOps(t, tc.add, "/bin/cat", "/proc/self/mountinfo")
		if failure != "" {
			t.Errorf("%s: %s", tc.name, failure)
		}
		found := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) > 5 && strings.HasPrefix(f[4], outside) {
				t.Errorf("%s: the mount followed the link put there after the check: %s", tc.name, line)
			}
			if len(f) > 5 && f[4] == filepath.Join(root, tc.at) && strings.HasPrefix(f[5], tc.opts) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s mount on the checked %s:\n%s", tc.name, tc.opts, tc.at, out)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the link reached the host directory: %v", entries)
	}
}

// TestSafeTargetHeldAcrossTheMountGo: the Go init's mounts after safeTarget, as the C
// stage's (TestSafeTargetHeldAcrossTheMount): the same swap between the check and the
// mount, here on a thread of this test in a mount namespace of its own.
func TestSafeTargetHeldAcrossTheMountGo(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	root, outside, src := filepath.Join(dir, "root"), filepath.Join(dir, "outside"), filepath.Join(dir, "src")
	for _, d := range []string{filepath.Join(root, "data", "tmp"), filepath.Join(root, "data", "bind"), filepath.Join(root, "etc"), outside, src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "etc", "hosts"), nil, 0o644)
	swap := func(parent, name, link string) error {
		if err := unix.Mount("tmpfs", filepath.Join(root, parent), "tmpfs", 0, ""); err != nil {
			return err
		}
		return os.Symlink(link, filepath.Join(root, parent, name))
	}
	var mountinfo []byte
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread, in its own namespace, ends with it
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			if _, err := safeTarget(root, "/data/tmp", true); err != nil {
				return err
			}
			if err := swap("data", "tmp", outside); err != nil {
				return err
			}
			if _, err := mountOne(plan.Mount{Type: "tmpfs", Source: "tmpfs", Target: "/data/tmp"}, filepath.Join(root, "data/tmp"), -1); err != nil {
				return err
			}
			if err := unix.Unmount(filepath.Join(root, "data"), unix.MNT_DETACH); err != nil {
				return err
			}
			if _, err := safeTarget(root, "/data/bind", true); err != nil {
				return err
			}
			if err := swap("data", "bind", outside); err != nil {
				return err
			}
			ro, err := mountOne(plan.Mount{Type: "bind", Source: src, Target: "/data/bind", Options: []string{"ro", "nosuid", "nodev"}}, filepath.Join(root, "data/bind"), -1)
			if err != nil {
				return err
			}
			if ro == nil {
				return fmt.Errorf("the bind is not to become read-only")
			}
			defer ro.close()
			if err := remountReadonly(heldPath(ro.top, ro.target)); err != nil {
				return err
			}
			if _, err := safeTarget(root, "/etc/hosts", false); err != nil {
				return err
			}
			if err := swap("etc", "hosts", filepath.Join(outside, "hosts")); err != nil {
				return err
			}
			staged, err := os.CreateTemp(dir, "hosts")
			if err != nil {
				return err
			}
			if err := mountHosts(staged, filepath.Join(root, "etc/hosts"), false); err != nil {
				return err
			}
			mountinfo, err = os.ReadFile("/proc/thread-self/mountinfo")
			return err
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"data/tmp": "rw", "data/bind": "ro,nosuid,nodev", "etc/hosts": "ro,nosuid,nodev,noexec"}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if strings.HasPrefix(f[4], outside) {
			t.Errorf("the mount followed the link put there after the check: %s", line)
		}
		for at, opts := range want {
			if f[4] == filepath.Join(root, at) && strings.HasPrefix(f[5], opts) {
				delete(want, at)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("no mount on the checked %v:\n%s", want, mountinfo)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("the link reached the host directory: %v", entries)
	}
}

// TestMadeUpperGivenByDescriptor: a write path OP_UPPER made for a named run.user is given
// to the ids by OP_USER through the directory it made, held: not by walking its path again
// after the other mounts, where a writer of a shared volume may have put another
// directory in its place meanwhile (a tmpfs over the parent here, with one of that name).
func TestMadeUpperGivenByDescriptor(t *testing.T) {
	testenv.Require(t, testenv.Root)
	etc := etcDir(t, map[string]string{"passwd": stagePasswd, "group": stageGroup})
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(tmp, "upper")
	swap := func(p *stage.Program) {
		p.Add(stage.OpMount, []uint64{0, 0}, []string{"tmpfs", tmp, "tmpfs", ""}, nil)
		p.Add(stage.OpMount, []uint64{0, 1}, []string{"tmpfs", given, "tmpfs", ""}, nil)
	}
	_, out, failure := stageUser(t, etc, plan.Process{User: "svc"}, []string{given}, swap)
	if failure != "" || out != "4321\n4322\n4322\n" {
		t.Fatalf("output %q, failure %q", out, failure)
	}
	var st unix.Stat_t
	unix.Lstat(given, &st)
	if st.Uid != 4321 || st.Gid != 4322 {
		t.Errorf("the upper made is %d:%d, want 4321:4322 (the chown went to what stood at its path later)", st.Uid, st.Gid)
	}
}

// TestMadeUpperGivenByDescriptorGo: the Go init's mountUpper and giveMade, as the C
// stage's OP_UPPER and OP_USER (TestMadeUpperGivenByDescriptor), with the same swap.
func TestMadeUpperGivenByDescriptorGo(t *testing.T) {
	testenv.Require(t, testenv.Root)
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(tmp, "upper")
	cfg := &initConfig{Root: tmp, Component: plan.Component{Image: &plan.Image{}, Process: plan.Process{User: "svc"}}}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread, in its own namespace, ends with it
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			if err := mountUpper(cfg, plan.Mount{Type: "upper", Target: "/upper"}); err != nil {
				return err
			}
			if err := unix.Mount("tmpfs", tmp, "tmpfs", 0, ""); err != nil {
				return err
			}
			if err := os.Mkdir(given, 0o755); err != nil {
				return err
			}
			if err := unix.Chroot(tmp); err != nil { // pivot_root's view: the paths are the root's
				return err
			}
			cfg.Component.Process.UID, cfg.Component.Process.GID = 4321, 4322 // resolveUser's
			return giveMade(cfg)
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, fd := range cfg.chownHeld {
		unix.Close(fd)
	}
	var st unix.Stat_t
	unix.Lstat(given, &st)
	if st.Uid != 4321 || st.Gid != 4322 {
		t.Errorf("the upper made is %d:%d, want 4321:4322 (the chown went to what stood at its path later)", st.Uid, st.Gid)
	}
}
