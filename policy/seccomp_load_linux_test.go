package policy

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const childEnv = "CONFINE_TEST_SECCOMP_PROGRAM"

// loadFilter installs prog on every thread of this process, under no_new_privs (no root needed).
func loadFilter(prog []byte) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	filter := unix.SockFprog{Len: uint16(len(prog) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&filter)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return e
	}
	return nil
}

// childProbes runs in the re-executed test binary, under the filter, and reports each
// probe's errno (0 for success) as JSON on stdout.
func childProbes() map[string]int {
	errno := func(_, _ uintptr, e syscall.Errno) int { return int(e) }
	res := map[string]int{}
	res["getpid"] = errno(unix.Syscall(unix.SYS_GETPID, 0, 0, 0))
	fd, _, e := unix.Syscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	res["socket_tcp"] = int(e)
	if e == 0 {
		unix.Close(int(fd))
	}
	res["socket_mptcp"] = errno(unix.Syscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 262))
	res["unshare_user"] = errno(unix.Syscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0))
	res["ptrace"] = errno(unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0))
	res["ioctl_tiocsti_high_bits"] = errno(unix.Syscall(unix.SYS_IOCTL, 0, 1<<32|unix.TIOCSTI, 0))
	res["clone3"] = errno(unix.Syscall(unix.SYS_CLONE3, 0, 0, 0))
	return res
}

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		runtime.LockOSThread()
		prog, err := os.ReadFile(path)
		if err == nil {
			err = loadFilter(prog)
		}
		if err != nil {
			os.Stderr.WriteString("load: " + err.Error() + "\n")
			os.Exit(3)
		}
		if calls := os.Getenv(callsEnv); calls != "" {
			json.NewEncoder(os.Stdout).Encode(childCalls(calls))
			os.Exit(0)
		}
		if os.Getenv(childEnv+"_UNSHARE") != "" {
			unix.Syscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0)
			os.Exit(0) // not reached under on_violation: kill
		}
		json.NewEncoder(os.Stdout).Encode(childProbes())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild re-executes the test binary with prog loaded and returns its output and error.
func runChild(t *testing.T, prog []byte, extraEnv ...string) ([]byte, error) {
	t.Helper()
	path := t.TempDir() + "/prog.bpf"
	if err := os.WriteFile(path, prog, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(extraEnv, childEnv+"="+path)...)
	cmd.Stderr = os.Stderr
	return cmd.Output()
}

func TestSeccompLoadedInChild(t *testing.T) {
	c := compileOne(t, seccompBase+"syscalls: {extends: default}\n")
	out, err := runChild(t, c.Seccomp.Program)
	if err != nil {
		t.Fatalf("child failed: %v", err)
	}
	var got map[string]int
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	want := map[string]int{
		"getpid":                  0,
		"socket_tcp":              0,
		"socket_mptcp":            int(unix.EPROTONOSUPPORT),
		"unshare_user":            int(unix.EPERM),
		"ptrace":                  int(unix.EPERM),
		"ioctl_tiocsti_high_bits": int(unix.EACCES),
		"clone3":                  int(unix.ENOSYS),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: errno %d (%v), want %d (%v)", k, got[k], syscall.Errno(got[k]), w, syscall.Errno(w))
		}
	}
}

func TestSeccompKillInChild(t *testing.T) {
	c := compileOne(t, seccompBase+"syscalls: {extends: default, on_violation: kill}\n")
	_, err := runChild(t, c.Seccomp.Program, childEnv+"_UNSHARE=1")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child was not killed: %v", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child ended with %v, want killed by SIGSYS", ws)
	}
}
