//go:build cgo && linux

package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// holding waits until pid holds a descriptor of path (OP_SAFE_TARGET has checked it).
func holding(t *testing.T, pid int, path string) {
	t.Helper()
	for {
		entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
		if err != nil {
			t.Fatalf("the stage ended before it held %s: %v", path, err)
		}
		for _, e := range entries {
			if l, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", e.Name())); l == path {
				return
			}
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 1e6}, nil)
	}
}

// TestHeldTopIsTheMountMade: after the bind onto a checked target, the stage reopens
// the name beneath the held parent for the bind's flags and its read-only remount. A
// volume's co-tenant, between the check and that reopen, renames the checked directory
// away and another of this run's mount points in the volume (here a tmpfs at data/a) to
// the name: its mount id is not the one underneath, yet it is not the bind made. The
// stage must refuse, or give the flags to the bind itself, rather than make the tmpfs
// read-only and leave the bind of src writable at data/x.
func TestHeldTopIsTheMountMade(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	root, src := filepath.Join(dir, "root"), filepath.Join(dir, "src")
	for _, d := range []string{filepath.Join(root, "data", "a"), filepath.Join(root, "data", "b"), src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	add := func(p *stage.Program) {
		p.Add(stage.OpMount, []uint64{0, 0}, []string{"tmpfs", filepath.Join(root, "data/a"), "tmpfs", ""}, nil)
		p.Add(stage.OpSafeTarget, []uint64{2}, []string{root, "data/b", src}, nil)
		p.Add(stage.OpRecvMounts, nil, nil, nil)
		p.Add(stage.OpBind, []uint64{99, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RDONLY, 0}, []string{src, filepath.Join(root, "data/b")}, nil)
		p.Add(stage.OpReadonly, nil, nil, nil)
	}
	data := filepath.Join(root, "data")
	out, failure := runStage(t, add, func(pid int, _ *os.File) {
		holding(t, pid, filepath.Join(data, "b"))
		if err := os.Rename(filepath.Join(data, "b"), filepath.Join(data, "x")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(data, "a"), filepath.Join(data, "b")); err != nil {
			t.Fatal(err)
		}
	}, "/bin/cat", "/proc/self/mountinfo")
	if failure != "" && !strings.Contains(failure, "not the mount just made") {
		t.Fatalf("failure %q", failure)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 5 && strings.HasPrefix(f[4], data) && strings.HasPrefix(f[5], "rw") && !strings.Contains(line, "tmpfs") {
			t.Errorf("the bind of src is writable: %s", line)
		}
	}
	if failure == "" && !strings.Contains(out, filepath.Join(data, "x")+" ro,nosuid,nodev") {
		t.Errorf("neither refused nor read-only on the checked directory (now data/x):\n%s", out)
	}
}

// TestHeldTopDetachedIsTheMountMade: a detached mount (the parent's idmapped bind, a
// volume) attached onto a checked target takes its flags by its own descriptor, not by
// the name reopened: with another bind of the same source renamed to the name, the root
// would match and the read-only remount would go to that other bind, leaving this one,
// on the checked directory (renamed to data/x), writable.
func TestHeldTopDetachedIsTheMountMade(t *testing.T) { heldTopSameSource(t, true) }

// TestHeldTopBindIsTheMountMade: as TestHeldTopDetachedIsTheMountMade for a bind the
// stage makes itself (no detached mount from the parent): it too takes its flags by
// its own descriptor (open_tree, move_mount onto the checked one).
func TestHeldTopBindIsTheMountMade(t *testing.T) { heldTopSameSource(t, false) }

func heldTopSameSource(t *testing.T, detached bool) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	root, src := filepath.Join(dir, "root"), filepath.Join(dir, "src")
	data := filepath.Join(root, "data")
	for _, d := range []string{filepath.Join(data, "a"), filepath.Join(data, "b"), src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	add := func(p *stage.Program) {
		p.Add(stage.OpBind, []uint64{98, 0, 0}, []string{src, filepath.Join(data, "a")}, nil) // rw, as declared
		p.Add(stage.OpSafeTarget, []uint64{2}, []string{root, "data/b", src}, nil)
		p.Add(stage.OpRecvMounts, nil, nil, nil)
		p.Add(stage.OpBind, []uint64{99, unix.MS_NOSUID | unix.MS_NODEV | unix.MS_RDONLY, 0}, []string{src, filepath.Join(data, "b")}, nil)
		p.Add(stage.OpReadonly, nil, nil, nil)
	}
	out, failure := runStage(t, add, func(pid int, mounts *os.File) {
		holding(t, pid, filepath.Join(data, "b"))
		for _, r := range [][2]string{{"b", "x"}, {"a", "b"}} {
			if err := os.Rename(filepath.Join(data, r[0]), filepath.Join(data, r[1])); err != nil {
				t.Fatal(err)
			}
		}
		if !detached {
			return
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.Sendmsg(int(mounts.Fd()), []byte{99, 0, 0, 0}, unix.UnixRights(fd), nil, 0); err != nil {
			t.Fatal(err)
		}
	}, "/bin/cat", "/proc/self/mountinfo")
	if failure != "" {
		t.Fatalf("failure %q", failure)
	}
	found := false
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == filepath.Join(data, "x") {
			found = true
			if !strings.HasPrefix(f[5], "ro,nosuid,nodev") {
				t.Errorf("the detached bind on the checked directory is not read-only: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no mount on the checked directory (now data/x):\n%s", out)
	}
}

// TestHeldTopIsTheMountMadeGo: the Go init's mountOne, as the C stage's op_bind
// (TestHeldTopIsTheMountMade): the co-tenant's renames, between safeTarget and the bind,
// done from this test's mount namespace while the thread that mounts waits in its own.
func TestHeldTopIsTheMountMadeGo(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	root, src := filepath.Join(dir, "root"), filepath.Join(dir, "src")
	data := filepath.Join(root, "data")
	for _, d := range []string{filepath.Join(data, "a"), filepath.Join(data, "b"), src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	checked, renamed := make(chan error, 1), make(chan struct{})
	errc := make(chan error, 1)
	var mountinfo []byte
	go func() {
		runtime.LockOSThread() // never unlocked: the thread, in its own namespace, ends with it
		defer held.reset()
		errc <- func() error {
			err := unix.Unshare(unix.CLONE_NEWNS)
			if err == nil {
				err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
			}
			if err == nil {
				err = unix.Mount("tmpfs", filepath.Join(data, "a"), "tmpfs", 0, "")
			}
			if err == nil {
				_, err = safeTarget(root, "/data/b", true)
			}
			checked <- err
			if err != nil {
				return nil
			}
			<-renamed
			ro, err := mountOne(plan.Mount{Type: "bind", Source: src, Target: "/data/b", Options: []string{"ro", "nosuid", "nodev"}}, filepath.Join(data, "b"), -1)
			if err == nil && ro != nil {
				defer ro.close()
				err = remountReadonly(heldPath(ro.top, ro.target))
			}
			mountinfo, _ = os.ReadFile("/proc/thread-self/mountinfo")
			return err
		}()
	}()
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"b", "x"}, {"a", "b"}} {
		if err := os.Rename(filepath.Join(data, r[0]), filepath.Join(data, r[1])); err != nil {
			t.Fatal(err)
		}
	}
	close(renamed)
	err := <-errc
	if err != nil && !strings.Contains(err.Error(), "not the mount just made") {
		t.Fatalf("mountOne: %v", err)
	}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if err != nil {
			break // refused: the init ends, and its namespace with it
		}
		if f := strings.Fields(line); len(f) > 5 && strings.HasPrefix(f[4], data) && strings.HasPrefix(f[5], "rw") && !strings.Contains(line, "tmpfs") {
			t.Errorf("the bind of src is writable: %s", line)
		}
	}
	if err == nil && !strings.Contains(string(mountinfo), filepath.Join(data, "x")+" ro,nosuid,nodev") {
		t.Errorf("neither refused nor read-only on the checked directory (now data/x):\n%s", mountinfo)
	}
}

// TestHeldTopDetachedIsTheMountMadeGo: the Go init's attachBind, as the C stage's
// (TestHeldTopDetachedIsTheMountMade): the detached mount takes its flags by its own
// descriptor, whatever the co-tenant renamed to the name.
func TestHeldTopDetachedIsTheMountMadeGo(t *testing.T) { heldTopSameSourceGo(t, true) }

// TestHeldTopBindIsTheMountMadeGo: mountOne's bind, as the C stage's
// (TestHeldTopBindIsTheMountMade).
func TestHeldTopBindIsTheMountMadeGo(t *testing.T) { heldTopSameSourceGo(t, false) }

func heldTopSameSourceGo(t *testing.T, detached bool) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	root, src := filepath.Join(dir, "root"), filepath.Join(dir, "src")
	data := filepath.Join(root, "data")
	for _, d := range []string{filepath.Join(data, "a"), filepath.Join(data, "b"), src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	checked, renamed := make(chan error, 1), make(chan struct{})
	errc := make(chan error, 1)
	var mountinfo []byte
	go func() {
		runtime.LockOSThread() // never unlocked: the thread, in its own namespace, ends with it
		defer held.reset()
		errc <- func() error {
			err := unix.Unshare(unix.CLONE_NEWNS)
			if err == nil {
				err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
			}
			if err == nil {
				err = unix.Mount(src, filepath.Join(data, "a"), "", unix.MS_BIND, "") // rw, as declared
			}
			if err == nil {
				_, err = safeTarget(root, "/data/b", true)
			}
			checked <- err
			if err != nil {
				return nil
			}
			<-renamed
			var ro *roBind
			if detached {
				fd, oerr := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
				if oerr != nil {
					return oerr
				}
				ro, err = attachBind(fd, filepath.Join(data, "b"), unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV)
			} else {
				ro, err = mountOne(plan.Mount{Type: "bind", Source: src, Target: "/data/b", Options: []string{"ro", "nosuid", "nodev"}}, filepath.Join(data, "b"), -1)
			}
			if err == nil && ro != nil {
				defer ro.close()
				err = remountReadonly(heldPath(ro.top, ro.target))
			}
			mountinfo, _ = os.ReadFile("/proc/thread-self/mountinfo")
			return err
		}()
	}()
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"b", "x"}, {"a", "b"}} {
		if err := os.Rename(filepath.Join(data, r[0]), filepath.Join(data, r[1])); err != nil {
			t.Fatal(err)
		}
	}
	close(renamed)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == filepath.Join(data, "x") {
			found = true
			if !strings.HasPrefix(f[5], "ro,nosuid,nodev") {
				t.Errorf("the detached bind on the checked directory is not read-only: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no mount on the checked directory (now data/x):\n%s", mountinfo)
	}
}
