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
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// component compiles a component named name running the probe as user with args;
// body adds keys (it must hold the filesystem key, which names probeDir).
func component(t *testing.T, name, user, body string, args ...string) *plan.Component {
	t.Helper()
	quoted := []string{`"` + probeDir + `/probe"`}
	for _, a := range args {
		quoted = append(quoted, `"`+a+`"`)
	}
	src := fmt.Sprintf("version: 1\nname: %s\nrun:\n  command: [%s]\n  user: %q\n%ssyscalls: {extends: default}\n", name, strings.Join(quoted, ", "), user, body)
	s, err := policy.Open(fstest.MapFS{"c.yaml": {Data: []byte(src)}}, "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return &p.Components[0]
}

// openDir is a fresh directory that anyone may enter, so that only the modes of the
// files in it decide (a component's ids are unprivileged on the host).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "confine-ids-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

// TestRootInsideIsNotHostRoot: a component running as uid 0 reads a world-readable file
// of a declared directory but not its neighbour that only host root may read, which it
// sees owned by the overflow ids.
func TestRootInsideIsNotHostRoot(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := openDir(t)
	secret, public := filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	os.WriteFile(secret, []byte("s"), 0o600)
	os.WriteFile(public, []byte("p"), 0o644)
	c := component(t, "rootinside", "0", "filesystem:\n  read: ["+probeDir+", "+dir+"]\n",
		"id:", "read:"+public, "read:"+secret, "stat:"+secret)
	res, _ := run(t, c)
	if r := res["id:"]; r.Out != "0:0" {
		t.Errorf("id inside: %+v, want 0:0", r)
	}
	if r := res["read:"+public]; !r.OK {
		t.Errorf("reading the world-readable file failed: %+v", r)
	}
	if r := res["read:"+secret]; r.OK || !strings.Contains(r.Err, "permission denied") {
		t.Errorf("uid 0 inside read a file only host root may read: %+v", r)
	}
	if r := res["stat:"+secret]; r.Out != "65534:65534" {
		t.Errorf("host root's file shows as %+v inside, want the overflow ids 65534:65534", r)
	}
}

// TestHostIDsDiffer runs two components at once: each runs as a host uid of its own
// range, not root, and a component started again gets its recorded range back.
func TestHostIDsDiffer(t *testing.T) {
	testenv.Require(t, testenv.Root)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hostUID := map[string]int{}
	for _, name := range []string{"ids-a", "ids-b", "ids-a"} {
		c := component(t, name, "0", "filesystem: {read: ["+probeDir+"]}\n", "sleep:")
		sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := sb.HostIDs()
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", sb.Pid()))
		sb.Kill()
		if err != nil {
			t.Fatal(err)
		}
		var real, eff int
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Uid:") {
				fmt.Sscan(strings.TrimPrefix(line, "Uid:"), &real, &eff)
			}
		}
		if real == 0 || eff != int(uid) || uid < sandbox.RangeSize {
			t.Errorf("%s: runs as host uid %d/%d, want its range's first id %d (not root)", name, real, eff, uid)
		}
		if prev, ok := hostUID[name]; ok && prev != real {
			t.Errorf("%s started again as host uid %d, first as %d: its range was not kept", name, real, prev)
		}
		hostUID[name] = real
	}
	if hostUID["ids-a"] == hostUID["ids-b"] {
		t.Errorf("two components share host uid %d", hostUID["ids-a"])
	}
}

// TestWritePathIdmapped: a write path shows its host owners inside and stores what the
// component makes under the same ids; root inside (with CAP_CHOWN) can give a file to
// another id of its range, not to one outside it.
func TestWritePathIdmapped(t *testing.T) {
	testenv.Require(t, testenv.Root)
	data := filepath.Join(openDir(t), "data")
	os.Mkdir(data, 0o755)
	os.Chown(data, 1000, 1000)
	body := "filesystem:\n  read: [" + probeDir + "]\n  write: [" + data + "]\n"
	c := component(t, "idmapped", "1000", body, "stat:"+data, "write:"+data+"/by1000", "stat:"+data+"/by1000")
	res, _ := run(t, c)
	if r := res["stat:"+data]; r.Out != "1000:1000" {
		t.Errorf("the write path's owner inside: %+v, want 1000:1000 as on the host", r)
	}
	if r := res["stat:"+data+"/by1000"]; !r.OK || r.Out != "1000:1000" {
		t.Errorf("a file uid 1000 made shows as %+v inside, want 1000:1000", r)
	}
	assertOwner(t, filepath.Join(data, "by1000"), 1000, 1000)

	os.Chown(data, 0, 0)
	f := data + "/f"
	c = component(t, "idmapped", "0", body+"capabilities: [CHOWN]\n",
		"write:"+f, "stat:"+f, "chown:"+f+"@33:33", "stat:"+f, "chown:"+f+"@70000:70000")
	res, _ = run(t, c)
	for _, p := range []string{"write:" + f, "chown:" + f + "@33:33"} {
		if r := res[p]; !r.OK {
			t.Errorf("%s: %+v", p, r)
		}
	}
	if r := res["chown:"+f+"@70000:70000"]; r.OK {
		t.Error("chown to an id outside the component's range succeeded")
	}
	if r := res["stat:"+f]; r.Out != "33:33" {
		t.Errorf("after chown inside: %+v, want 33:33", r)
	}
	assertOwner(t, f, 33, 33)
}

func assertOwner(t *testing.T, path string, uid, gid uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Error(err)
		return
	}
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s is owned by %d:%d on the host, want %d:%d", path, st.Uid, st.Gid, uid, gid)
	}
}

// TestGroups: run.groups by name resolves against the rootfs's own /etc/group and by
// number as written; a group-readable key behind an idmapped read path is readable
// through the group and not without it; an unknown name fails the start with exit 2.
func TestGroups(t *testing.T) {
	testenv.Require(t, testenv.Root)
	rootfs := openDir(t)
	for _, d := range []string{"probe", "etc", "proc", "dev"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\nssl-cert:x:4242:postgres\n"), 0o644)
	bin, _ := os.ReadFile(filepath.Join(probeDir, "probe"))
	os.WriteFile(filepath.Join(rootfs, "probe", "probe"), bin, 0o755)
	policyFile := func(name, groups string, args ...string) string {
		src := fmt.Sprintf("version: 1\nname: %s\nrun:\n  command: [/probe/probe, %s]\n  rootfs: %s\n  user: \"1000\"\n  groups: [%s]\nfilesystem: {read: [/probe, /etc]}\nsyscalls: {extends: default}\n",
			name, `"`+strings.Join(args, `", "`)+`"`, rootfs, groups)
		path := filepath.Join(rootfs, name+".yaml")
		os.WriteFile(path, []byte(src), 0o644)
		return path
	}
	policyFile("groups", "ssl-cert, 50", "groups:")
	s, err := policy.Open(os.DirFS(rootfs), "groups.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, &p.Components[0])
	if r := res["groups:"]; r.Out != "50,4242" && r.Out != "4242,50" {
		t.Errorf("supplementary groups: %+v, want 4242 (ssl-cert) and 50", r)
	}
	code, stderr := exitOf(exec.Command(confineBin, "run", policyFile("nogroup", "no-such-group", "id:")))
	if code != 2 || !strings.Contains(stderr, `no group "no-such-group"`) {
		t.Errorf("an unknown group: exit %d, stderr %q; want 2 naming the group", code, stderr)
	}

	keys := openDir(t)
	key := filepath.Join(keys, "server.key")
	os.WriteFile(key, []byte("k"), 0o640)
	os.Chown(key, 0, 4242)
	for _, tc := range []struct {
		read, groups string
		readable     bool
	}{
		{"{path: " + keys + ", idmap: true}", "[4242]", true},
		{"{path: " + keys + ", idmap: true}", "[]", false},
		{keys, "[4242]", false}, // not idmapped: the group shows as nogroup
	} {
		body := "  groups: " + tc.groups + "\nfilesystem:\n  read: [" + probeDir + ", " + tc.read + "]\n"
		c := component(t, "sslkey", "1000", body, "read:"+key, "stat:"+key)
		res, _ := run(t, c)
		if r := res["read:"+key]; r.OK != tc.readable {
			t.Errorf("read %s, groups %s: %+v (owner inside %s), want readable=%v", tc.read, tc.groups, r, res["stat:"+key].Out, tc.readable)
		}
	}
}

// TestIdmapUnsupportedFailsClosed idmaps a path on sysfs, which has no idmapped mounts:
// the start fails at idmap naming the path, leaving nothing behind, unless best_effort
// lists idmap, when the path is bound unmapped and a finding says so.
func TestIdmapUnsupportedFailsClosed(t *testing.T) {
	testenv.Require(t, testenv.Root)
	const path = "/sys/kernel/mm"
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	body := "filesystem:\n  read: [" + probeDir + ", {path: " + path + ", idmap: true}]\n"
	before := ownRoots()
	_, err := sandbox.Launch(context.Background(), component(t, "noidmap", "0", body, "ls:"+path), sandbox.Options{}, nil)
	var se *sandbox.StepError
	if !errors.As(err, &se) || se.Step != "idmap" || !strings.Contains(se.Err, path) || !strings.Contains(se.Err, "no idmapped mounts") {
		t.Fatalf("idmap on sysfs: %v, want a StepError at idmap naming %s", err, path)
	}
	if after := ownRoots(); len(after) > len(before) {
		t.Errorf("root directory left behind: %v", after)
	}
	var out strings.Builder
	sb, err := sandbox.Launch(context.Background(), component(t, "noidmap", "0", body+"best_effort: [idmap]\n", "ls:"+path),
		sandbox.Options{Stdout: &out}, nil)
	if err != nil {
		t.Fatalf("with best_effort: [idmap]: %v", err)
	}
	sb.Wait()
	if f := sb.Findings(); len(f) != 1 || f[0].Mechanism != "idmap" || !strings.Contains(f[0].Detail, path) {
		t.Errorf("findings %v, want one for idmap naming %s", f, path)
	}
	if r := results(out.String())["ls:"+path]; !r.OK {
		t.Errorf("the unmapped bind is not readable: %+v", r)
	}
}
