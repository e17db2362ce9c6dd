//go:build linux

package run_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// slimPair copies confine and confine-full into a new directory of their own (a new
// inode each, which no other test execs), which every user can reach, as an installed
// confine's (t.TempDir's parent is not: an init stage that runs as the component's ids
// could not open confine-full there), and returns it.
func slimPair(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "confine-slim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, name := range []string{"confine", "confine-full"} {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(confineBin), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fanotifyOn reports mask's events on the file at path to a new fanotify group of class,
// read from the file returned (non-blocking, closed with the test: closing it allows
// whatever waits on a permission event).
func fanotifyOn(t *testing.T, class uint, mask uint64, path string) *os.File {
	t.Helper()
	fd, err := unix.FanotifyInit(class|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		t.Fatalf("fanotify_init: %v", err)
	}
	f := os.NewFile(uintptr(fd), "fanotify")
	t.Cleanup(func() { f.Close() })
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, mask, unix.AT_FDCWD, path); err != nil {
		t.Fatalf("fanotify_mark %s: %v", path, err)
	}
	return f
}

// fanEvents reads the events f holds (fanotifyOn), waiting for one unless wait is false.
func fanEvents(f *os.File, wait bool) ([]unix.FanotifyEventMetadata, error) {
	buf := make([]byte, 4096)
	var n int
	var err error
	if wait {
		n, err = f.Read(buf)
	} else {
		raw, rerr := f.SyscallConn()
		if rerr != nil {
			return nil, rerr
		}
		raw.Read(func(fd uintptr) bool { n, err = unix.Read(int(fd), buf); return true })
		if errors.Is(err, unix.EAGAIN) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	var evs []unix.FanotifyEventMetadata
	size := int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))
	for off := 0; off+size <= n; {
		var ev unix.FanotifyEventMetadata
		binary.Read(bytes.NewReader(buf[off:off+size]), binary.NativeEndian, &ev)
		evs = append(evs, ev)
		if ev.Event_len < uint32(size) {
			break
		}
		off += int(ev.Event_len)
	}
	return evs, nil
}

// TestSlimExecsChecked: confine execs the confine-full it checked, from its descriptor,
// both from its constructor (`confine version`) and from main (a Plan on a pipe, which
// the constructor keeps): a binary renamed into confine-full's place right after the
// check (here at the check's open, which a fanotify permission event holds until the
// rename is done) is not run. Who may write the directory could otherwise run anything
// as confine's user in place of a confine-full that passed every check.
func TestSlimExecsChecked(t *testing.T) {
	testenv.Require(t, testenv.Root)
	file := filepath.Join(t.TempDir(), "slim.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "env:")), 0o644); err != nil {
		t.Fatal(err)
	}
	planJSON := testenv.Run(t, confineBin, "compile", file, "--format", "json")
	for _, tc := range []struct {
		name, stdin, want string
		args              []string
	}{
		{"the constructor's", "", "confine ", []string{"version"}},
		{"main's", planJSON, `"ok":true`, []string{"run", "--plan", "/dev/stdin"}},
	} {
		dir := slimPair(t)
		full := filepath.Join(dir, "confine-full")
		if err := os.WriteFile(filepath.Join(dir, "planted"), []byte("#!/bin/sh\necho planted \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		group := fanotifyOn(t, unix.FAN_CLASS_CONTENT, unix.FAN_OPEN_PERM, full)
		done := make(chan struct{})
		go func() { // at the first open of the real confine-full, the planted one takes its name
			defer close(done)
			swapped := false
			for {
				evs, err := fanEvents(group, true)
				if err != nil {
					return
				}
				for _, ev := range evs {
					if !swapped {
						swapped = true
						if err := unix.Renameat2(unix.AT_FDCWD, full, unix.AT_FDCWD, filepath.Join(dir, "planted"), unix.RENAME_EXCHANGE); err != nil {
							t.Errorf("%s: exchanging confine-full and the planted binary: %v", tc.name, err)
						}
					}
					var resp bytes.Buffer
					binary.Write(&resp, binary.NativeEndian, unix.FanotifyResponse{Fd: ev.Fd, Response: unix.FAN_ALLOW})
					group.Write(resp.Bytes())
					unix.Close(int(ev.Fd))
				}
			}
		}()
		cmd := exec.Command(filepath.Join(dir, "confine"), tc.args...)
		cmd.Stdin = strings.NewReader(tc.stdin) // a pipe
		out, err := cmd.CombinedOutput()
		group.Close()
		<-done
		if strings.Contains(string(out), "planted") {
			t.Errorf("%s hand-over ran the binary renamed into confine-full's place after the check: %s", tc.name, out)
		} else if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s hand-over: %v\n%s", tc.name, err, out)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, "planted")); !bytes.HasPrefix(data, []byte("\x7fELF")) {
			t.Errorf("%s: confine-full was not renamed at its check's open: the test proves nothing", tc.name)
		}
	}
}

// TestSlimGoInit: a plain run never execs confine-full, not even for its Go init stage
// (CONFINE_STAGE=go here; a run without root, or with a step only the Go init does,
// takes it too), which the run re-executes from /proc/self/exe: handed to confine-full,
// every such run would pay that binary's exec and start inside its own.
func TestSlimGoInit(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := slimPair(t)
	file := filepath.Join(t.TempDir(), "slim.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", "env:")), 0o644); err != nil {
		t.Fatal(err)
	}
	execs := fanotifyOn(t, unix.FAN_CLASS_NOTIF, unix.FAN_OPEN_EXEC, filepath.Join(dir, "confine-full"))
	for _, env := range [][]string{nil, {"CONFINE_STAGE=go"}} {
		cmd := exec.Command(filepath.Join(dir, "confine"), "run", file)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), `"ok":true`) {
			t.Fatalf("%v confine run: %v\n%s", env, err, out)
		}
		evs, err := fanEvents(execs, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			t.Errorf("%v confine run: process %d execs confine-full", env, ev.Pid)
			unix.Close(int(ev.Fd))
		}
	}
	// The fanotify group sees confine-full's execs: a command confine hands over is one.
	if out, err := exec.Command(filepath.Join(dir, "confine"), "version").CombinedOutput(); err != nil {
		t.Fatalf("confine version: %v\n%s", err, out)
	}
	evs, err := fanEvents(execs, false)
	if err != nil || len(evs) == 0 {
		t.Errorf("confine version: no exec of confine-full seen (%v): the test proves nothing", err)
	}
	for _, ev := range evs {
		unix.Close(int(ev.Fd))
	}
}
