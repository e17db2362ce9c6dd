//go:build linux

package run_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// testUser is an unprivileged user of the test's own, made with useradd, which gives it
// subordinate ids (/etc/subuid, /etc/subgid) where no other entry lies and locks those
// files as shadow's tools do; userdel removes the user and its entries afterwards. The
// name is random: other suites may run at once.
type testUser struct {
	name     string
	uid, gid uint32
}

func newTestUser(t *testing.T) testUser {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Command("useradd"), testenv.Command("newuidmap"), testenv.Command("newgidmap"))
	b := make([]byte, 4)
	rand.Read(b)
	name := "confine-t-" + hex.EncodeToString(b)
	if out, err := shadowTool(t, "useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := shadowTool(t, "userdel", name); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, _ := os.ReadFile(f)
		if !strings.Contains(string(data), "\n"+name+":") && !strings.HasPrefix(string(data), name+":") {
			t.Fatalf("useradd gave %s no entry in %s (SUB_UID_COUNT in /etc/login.defs?)", name, f)
		}
	}
	return testUser{name, uint32(uid), uint32(gid)}
}

// shadowTool runs useradd, usermod or userdel holding confine's id-range lock: they
// rewrite /etc/subuid and /etc/subgid whole (under shadow's own lock), and a first start
// of confine appends its reservation to them under this one (sandbox/ids_linux.go), so
// the two must not interleave when other suites run at once. Held for the one command.
func shadowTool(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	const dir = "/var/lib/confine/ids"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return exec.Command(name, args...).CombinedOutput()
}

// run runs `confine run` on the policy src as u and returns its output and exit status.
func (u testUser) run(t *testing.T, src string) (stdout, stderr string, code int) {
	t.Helper()
	dir, err := os.MkdirTemp("", "confine-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(src), 0o644)
	cmd := exec.Command(confineBin, "run", file)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, NoSetGroups: true}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// probePolicy is a component running the probe as root inside with args and extra keys.
func probePolicy(extra string, args ...string) string {
	quoted := []string{`"` + probeDir + `/probe"`}
	for _, a := range args {
		quoted = append(quoted, `"`+a+`"`)
	}
	return "version: 1\nname: rootless\nrun: {command: [" + strings.Join(quoted, ", ") + "], user: \"0\"}\n" +
		"filesystem: {read: [" + probeDir + "], tmpfs: [/scratch]}\nsyscalls: {extends: default}\n" + extra
}

// mapSizes reads a uid_map or gid_map: the host id of container id 0 and the ids mapped.
func mapSizes(t *testing.T, m string) (hostOf0, total int) {
	t.Helper()
	hostOf0 = -1
	for _, line := range strings.Split(strings.TrimSpace(m), "\n") {
		var in, host, n int
		if _, err := fmt.Sscan(line, &in, &host, &n); err != nil {
			t.Fatalf("map line %q: %v", line, err)
		}
		if in == 0 {
			hostOf0 = host
		}
		total += n
	}
	return hostOf0, total
}

// TestRootlessIDRange: without root, a user with subordinate ids gets all of 0-65535
// inside through newuidmap and newgidmap: root inside is the user, the other ids are its
// subordinate ones, and root with CAP_CHOWN gives a file to uid 33, but not to an id
// outside the range.
func TestRootlessIDRange(t *testing.T) {
	u := newTestUser(t)
	f := "/scratch/f"
	out, stderr, code := u.run(t, probePolicy("capabilities: [CHOWN]\n", "id:", "cat:/proc/self/uid_map", "cat:/proc/self/gid_map",
		"write:"+f, "chown:"+f+"@33:33", "stat:"+f, "chown:"+f+"@70000:70000"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	res := results(out)
	for _, m := range []struct {
		probe string
		host  uint32
	}{{"cat:/proc/self/uid_map", u.uid}, {"cat:/proc/self/gid_map", u.gid}} {
		host0, total := mapSizes(t, res[m.probe].Out)
		if host0 != int(m.host) || total != 65536 {
			t.Errorf("%s: id 0 is host %d and %d ids are mapped, want host %d and 65536:\n%s", m.probe, host0, total, m.host, res[m.probe].Out)
		}
	}
	if r := res["chown:"+f+"@33:33"]; !r.OK {
		t.Errorf("chown to 33 inside: %+v", r)
	}
	if r := res["stat:"+f]; r.Out != "33:33" {
		t.Errorf("the file's owner after chown: %+v, want 33:33", r)
	}
	if r := res["chown:"+f+"@70000:70000"]; r.OK {
		t.Errorf("chown to 70000, outside the range, worked")
	}
	if strings.Contains(stderr, "ids:") {
		t.Errorf("a notice of the single-id map, with subordinate ids:\n%s", stderr)
	}
}

// TestRootlessSingleIDNotice: a user without subordinate ids gets its one id, and
// confine says so.
func TestRootlessSingleIDNotice(t *testing.T) {
	u := newTestUser(t)
	if out, err := shadowTool(t, "usermod", "--del-subuids", "1-4294967294", "--del-subgids", "1-4294967294", u.name); err != nil {
		t.Fatalf("usermod: %v\n%s", err, out)
	}
	out, stderr, code := u.run(t, probePolicy("", "cat:/proc/self/uid_map"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, total := mapSizes(t, results(out)["cat:/proc/self/uid_map"].Out); total != 1 {
		t.Errorf("%d ids mapped without subordinate ids, want 1", total)
	}
	if !strings.Contains(stderr, "rootless: ids: /etc/subuid has no entry") || !strings.Contains(stderr, "only uid 0") {
		t.Errorf("no notice of the single-id map:\n%s", stderr)
	}
}

// TestRootlessLimits: without root and cgroups, best_effort: [cgroups] puts rlimits in
// their place: a fork bomb stops at resources.pids and a memory hog at resources.memory,
// while a few children and a little memory are allowed, even with more than pids of the
// user's processes running outside; without best_effort the same policy does not run.
func TestRootlessLimits(t *testing.T) {
	u := newTestUser(t)
	// The user's processes outside do not count: RLIMIT_NPROC counts per user
	// namespace (Linux 5.14 and later), so the limit is the component's own.
	for range 40 {
		sleep := exec.Command("sleep", "60")
		sleep.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, NoSetGroups: true}}
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	}
	limits := "resources: {pids: 32, memory: 96Mi}\n"
	args := []string{"forkbomb:4", "forkbomb:400", "hog:16", "hog:320"}
	out, stderr, code := u.run(t, probePolicy(limits+"best_effort: [cgroups]\n", args...))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	res := results(out)
	for _, p := range []string{"forkbomb:4", "hog:16"} {
		if r := res[p]; !r.OK {
			t.Errorf("%s under the limits: %+v", p, r)
		}
	}
	if r := res["forkbomb:400"]; r.OK || !strings.Contains(r.Err, "resource temporarily unavailable") {
		t.Errorf("the fork bomb was not stopped: %+v", r)
	} else if n, _ := strconv.Atoi(r.Out); n >= 32 {
		t.Errorf("the fork bomb started %d children under pids: 32", n)
	}
	if r := res["hog:320"]; r.OK || !strings.Contains(r.Err, "cannot allocate memory") {
		t.Errorf("the memory hog was not stopped: %+v", r)
	} else if n, _ := strconv.Atoi(r.Out); n >= 96 {
		t.Errorf("the memory hog got %d MiB under memory: 96Mi", n)
	}
	if !strings.Contains(stderr, "rlimits stand in: RLIMIT_NPROC 32, RLIMIT_DATA 100663296 bytes") {
		t.Errorf("confine run printed no finding for the fallback:\n%s", stderr)
	}

	_, stderr, code = u.run(t, probePolicy(limits, args...))
	if code != 2 || !strings.Contains(stderr, "list cgroups under best_effort to run with rlimits") {
		t.Errorf("without best_effort: exit %d, want 2 and the remedy:\n%s", code, stderr)
	}
}

// TestRootlessSmallMemory: a memory limit near what the Go init stage has mapped (its
// runtime maps ahead, ~45 MB) bounds the component through RLIMIT_DATA: the init stage
// makes exec's arguments before the fallback limits it (sandbox/execve_linux.go), where
// a heap that had to grow for them ended it with "fatal error: runtime: cannot allocate
// memory" (at 48Mi on every start; at 96Mi by chance). Below ~48Mi the probe's own Go
// runtime gets no mapping either.
func TestRootlessSmallMemory(t *testing.T) {
	u := newTestUser(t)
	for range 3 { // the failure it guards against came by chance above the runtime's size
		out, stderr, code := u.run(t, probePolicy("resources: {memory: 48Mi}\nbest_effort: [cgroups]\n", "id:", "hog:64"))
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		res := results(out)
		if r := res["id:"]; !r.OK { // it ran (the probe's own runtime has little room left)
			t.Errorf("id: under memory: 48Mi: %+v", r)
		}
		if r := res["hog:64"]; r.OK || !strings.Contains(r.Err, "cannot allocate memory") {
			t.Errorf("the memory hog was not stopped: %+v", r)
		}
	}
}
