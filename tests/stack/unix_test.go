//go:build linux

package stack_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// landlockScopes needs Landlock ABI 6: abstract unix socket scoping.
var landlockScopes = testenv.Need{Name: "landlock ABI 6", Check: func() string {
	if abi, err := llsys.LandlockGetABIVersion(); err != nil || abi < 6 {
		return fmt.Sprintf("Landlock ABI %d (%v)", abi, err)
	}
	return ""
}}

// TestUnixChannel: redis serves a pathname socket to api, both sides declaring it; api
// connects. other, which declares nothing, cannot even see the path, nor can it or api
// reach anyone's abstract sockets, even one in its own network namespace that a process
// outside its Landlock domain serves. One side's declaration alone fails check.
func TestUnixChannel(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables, landlockScopes)
	stack := testenv.StackName("unixchan")
	root, err := os.MkdirTemp("", "confine-unix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	sockDir := filepath.Join(root, "run", "redis")
	if err := os.MkdirAll(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, filepath.Dir(sockDir)} {
		os.Chmod(d, 0o755)
	}
	// redis runs as uid 1000; its write path is idmapped, so on disk it owns 1000.
	if err := os.Chown(sockDir, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	sock, private := filepath.Join(sockDir, "redis.sock"), filepath.Join(sockDir, "private.sock")
	dir := t.TempDir()
	component(t, dir, "redis", fmt.Sprintf("network:\n  unix: [{path: %q, from: [api]}]", sock),
		"unixserve:"+sock+"@0666", "unixserve:"+private+"@0600", "abstractserve:redis-abstract", "sleep:")
	fixWrite(t, dir, "redis", sockDir)
	component(t, dir, "api", fmt.Sprintf("network:\n  connect: [{unix: %q}]", "redis:"+sock),
		"pause:1s", "unixdial:"+sock, "unixdial:"+private, "write:"+filepath.Join(sockDir, "x"), "ls:"+sockDir,
		"abstractserve:own", "abstractdial:own", "abstractdial:redis-abstract", "abstractdial:outside", "sleep:")
	// api runs as another uid than redis: the socket's mode, not its owner, lets it in.
	setUser(t, dir, "api", "1001")
	component(t, dir, "other", "", "pause:1s", "unixdial:"+sock, "stat:"+sockDir, "sleep:")

	// One side alone is refused before anything runs.
	oneSided := filepath.Join(dir, "one-sided")
	os.Mkdir(oneSided, 0o755)
	for _, n := range []string{"redis", "other"} {
		data, _ := os.ReadFile(filepath.Join(dir, n+".yaml"))
		os.WriteFile(filepath.Join(oneSided, n+".yaml"), data, 0o644)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "api.yaml"))
	os.WriteFile(filepath.Join(oneSided, "api.yaml"), []byte(strings.Replace(string(data), fmt.Sprintf("connect: [{unix: %q}]", "redis:"+sock), "connect: []", 1)), 0o644)
	os.WriteFile(filepath.Join(oneSided, "stack.yaml"), []byte("version: 1\nname: onesided\nsubnet: 10.117.1.0/24\ncomponents: [redis.yaml, api.yaml, other.yaml]\n"), 0o644)
	out, err := exec.Command(bin, "check", filepath.Join(oneSided, "stack.yaml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "network.unix[0].from[0]: redis serves ") || !strings.Contains(string(out), " to api, but api does not connect to unix redis:") {
		t.Errorf("a one-sided socket passed check (%v):\n%s", err, out)
	}

	upStack(t, dir, stack, "10.117.0.0/24", []string{"redis", "api", "other"}, "")
	// A process outside every sandbox serves an abstract socket in api's own network
	// namespace: only Landlock's scope keeps api from it.
	pid := status(t, stack)["api"].Pid
	if pid == 0 {
		t.Fatalf("api has no pid: %+v", status(t, stack))
	}
	l := listenAbstractIn(t, pid, "outside")
	defer l.Close()

	api := results(t, stack, "api", "abstractdial:outside")
	if r := api["unixdial:"+sock]; !r.OK || r.Out != "hello from redis" {
		t.Errorf("api could not use the declared socket: %+v", r)
	}
	if r := api["unixdial:"+private]; r.OK || !strings.Contains(r.Err, "permission denied") {
		t.Errorf("api reached a 0600 socket of redis's: %+v", r)
	}
	for _, p := range []string{"write:" + filepath.Join(sockDir, "x"), "ls:" + sockDir} {
		if r := api[p]; r.OK {
			t.Errorf("%s in the socket's directory worked: %+v", p, r)
		}
	}
	if r := api["abstractdial:own"]; !r.OK {
		t.Errorf("api could not reach its own abstract socket: %+v", r)
	}
	if r := api["abstractdial:redis-abstract"]; r.OK {
		t.Errorf("api reached redis's abstract socket: %+v", r)
	}
	if r := api["abstractdial:outside"]; r.OK || !strings.Contains(r.Err, "operation not permitted") {
		t.Errorf("api reached an abstract socket from outside its Landlock domain: %+v", r)
	}
	other := results(t, stack, "other", "stat:"+sockDir)
	for _, p := range []string{"unixdial:" + sock, "stat:" + sockDir} {
		if r := other[p]; r.OK || !strings.Contains(r.Err, "no such file") {
			t.Errorf("other, which declares no socket, saw it: %s %+v", p, r)
		}
	}
}

// fixWrite adds a filesystem.write entry to a component written by component().
func fixWrite(t *testing.T, dir, name, write string) {
	t.Helper()
	file := filepath.Join(dir, name+".yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(data), "filesystem: {read: [", fmt.Sprintf("filesystem: {write: [%q], read: [", write), 1)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setUser changes the run.user of a component written by component().
func setUser(t *testing.T, dir, name, user string) {
	t.Helper()
	file := filepath.Join(dir, name+".yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), `user: "1000"`, fmt.Sprintf("user: %q", user), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listenAbstractIn serves the abstract socket @name in the network namespace of pid,
// from a thread of this test process that enters it; the thread is never reused.
func listenAbstractIn(t *testing.T, pid int, name string) net.Listener {
	t.Helper()
	type res struct {
		l   net.Listener
		err error
	}
	ch := make(chan res)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, err}
			return
		}
		l, err := net.Listen("unix", "@"+name)
		ch <- res{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	go func() {
		for {
			c, err := r.l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from outside\n"))
			c.Close()
		}
	}()
	return r.l
}
