//go:build cgo && linux

package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// stageUser runs the steps table's groups, user and capabilities ops as the C stage
// runs them, in a child of this test binary (whose constructor is the stage) in a mount
// namespace of its own where etc is /etc, then execs /bin/sh printing its ids. It
// returns what the parent read on fdIDs, the shell's output, and the stage's failure
// as the parent words it ("" when it ran).
// between, when given, adds ops after the write paths' (what another writer of a volume
// may do meanwhile).
func stageUser(t *testing.T, etc string, proc plan.Process, chown []string, between ...func(*stage.Program)) (ids, out, failure string) {
	t.Helper()
	proc.Args = []string{"/bin/sh", "-c", "id -u; id -g; id -G"}
	proc.Env = []string{"PATH=/usr/bin:/bin"}
	cfg := &initConfig{Component: plan.Component{Process: proc}, chownLater: chown}
	p := &stage.Program{}
	p.Step("mounts")
	p.Add(stage.OpMount, []uint64{unix.MS_REC | unix.MS_PRIVATE, 0}, []string{"", "/", "", ""}, nil)
	p.Add(stage.OpMount, []uint64{unix.MS_BIND, 0}, []string{etc, "/etc", "", ""}, nil)
	for i, path := range chown { // an image's write paths, as renderImageMount renders them
		p.Add(stage.OpUpper, []uint64{uint64(proc.UID), uint64(proc.GID), 1, uint64(i)},
			[]string{filepath.Dir(path), filepath.Base(path), path}, nil)
	}
	for _, add := range between {
		add(p)
	}
	for _, s := range steps {
		if s.name != "groups" && s.name != "user" && s.name != "capabilities" && s.name != "sanitize" {
			continue
		}
		p.Step(s.name)
		if err := s.render(cfg, p); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	renderExec(cfg, p)
	out, ids, failure = stageChild(t, p, nil)
	return ids, out, failure
}

// etcDir is a directory to serve as /etc: ld.so.cache for the shell, and the files given.
func etcDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if cache, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		os.WriteFile(filepath.Join(dir, "ld.so.cache"), cache, 0o644)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	stagePasswd = "root:x:0:0::/:/bin/sh\nsvc:x:4321:4322::/:/bin/sh\nsvc:x:1:1::/:/bin/sh\nbig:x:70000:1::/:/bin/sh\nodd:x:12a:1::/:/bin/sh\n" +
		"top:x:65535:65535::/:/bin/sh\nedge:x:65536:1::/:/bin/sh\nedgegid:x:1:65536::/:/bin/sh\n"
	stageGroup = "root:x:0:\nsvc:x:4322:\nssl-cert:x:4242:svc\nextra:x:777:\nbiggrp:x:70000:\ntopgrp:x:65535:\nedgegrp:x:65536:\n"
)

// TestStageUserOp: OP_GROUPS and OP_USER resolve names from the sandbox's files (the
// first valid line of a name), OP_CAPS then runs the process as those ids with those
// groups, the image's write paths the stage made are lchowned to them (not one the image
// had), and the parent reads them on fdIDs.
func TestStageUserOp(t *testing.T) {
	testenv.Require(t, testenv.Root)
	etc := etcDir(t, map[string]string{"passwd": stagePasswd, "group": stageGroup})
	// An upper the stage makes is given to the ids; one the image has keeps its owner.
	tmp, err := filepath.EvalSymlinks(t.TempDir()) // a path to give may have no link on the way
	if err != nil {
		t.Fatal(err)
	}
	had := filepath.Join(tmp, "upper")
	os.Mkdir(had, 0o755)
	for i, c := range []struct {
		proc      plan.Process
		ids, out  string
		chownedTo string
	}{
		{plan.Process{User: "svc", Groups: []string{"ssl-cert", "50", "extra"}}, `{"uid":4321,"gid":4322}`, "4321\n4322\n4322 50 777 4242\n", "4321:4322"},
		{plan.Process{User: "svc", Group: "extra"}, `{"uid":4321,"gid":777}`, "4321\n777\n777\n", "4321:777"},
		{plan.Process{UID: 1000, GID: 1000, Group: "ssl-cert"}, `{"uid":1000,"gid":4242}`, "1000\n4242\n4242\n", "1000:4242"},
		{plan.Process{UID: 1000, GID: 1000, Groups: []string{"extra"}}, "", "1000\n1000\n1000 777\n", ""},
		// The range's last id is inside it.
		{plan.Process{User: "top", Groups: []string{"topgrp"}}, `{"uid":65535,"gid":65535}`, "65535\n65535\n65535\n", "65535:65535"},
	} {
		var chown []string
		given := filepath.Join(tmp, fmt.Sprintf("upper%d", i))
		if c.chownedTo != "" {
			chown = []string{given, had}
		}
		ids, out, failure := stageUser(t, etc, c.proc, chown)
		if failure != "" || ids != c.ids || out != c.out {
			t.Errorf("%+v: ids %q, output %q, failure %q; want %q, %q", c.proc, ids, out, failure, c.ids, c.out)
		}
		if c.chownedTo != "" {
			var st unix.Stat_t
			unix.Lstat(given, &st)
			if got := fmt.Sprintf("%d:%d", st.Uid, st.Gid); got != c.chownedTo {
				t.Errorf("%+v: the upper made is %s, want %s", c.proc, got, c.chownedTo)
			}
			unix.Lstat(had, &st)
			if st.Uid != 0 || st.Gid != 0 {
				t.Errorf("%+v: the upper the image had is %d:%d, want it kept 0:0", c.proc, st.Uid, st.Gid)
			}
		}
	}
}

// TestStageUserOpFailsClosed: a name the files lack, a file the bounds refuse, an id past
// the range: the stage stops before the identity changes,
// worded as the Go init words it, and the parent gets no ids.
func TestStageUserOpFailsClosed(t *testing.T) {
	testenv.Require(t, testenv.Root)
	good := map[string]string{"passwd": stagePasswd, "group": stageGroup}
	long := "svc:x:4321:4322:" + strings.Repeat("g", 70000) + "\n"
	huge := strings.Repeat("filler:x:1:1:"+strings.Repeat("f", 1000)+"\n", 1100) + "late:x:5:5::/:/bin/sh\n"
	svc := plan.Process{User: "svc"}
	inRootfs := plan.Process{User: "svc", Rootfs: "/some/rootfs"}
	for _, c := range []struct {
		files map[string]string
		proc  plan.Process
		chown []string
		want  string
	}{
		{good, plan.Process{User: "ghost"}, nil, `user: run.user: no user "ghost" in the sandbox's /etc/passwd`},
		{good, plan.Process{User: "svc", Group: "ghost"}, nil, `user: run.user: no group "ghost" in the sandbox's /etc/group`},
		{good, plan.Process{UID: 1, GID: 1, Groups: []string{"extra", "ghost"}}, nil, `groups: run.groups: no group "ghost" in the sandbox's /etc/group`},
		{good, plan.Process{User: "odd"}, nil, `user: run.user: no user "odd" in the sandbox's /etc/passwd`},
		{good, plan.Process{User: "big"}, nil, "user: run.user: big is uid 70000, gid 1, outside the component's ids 0-65535"},
		{good, plan.Process{User: "svc", Group: "biggrp"}, nil, "user: run.user: svc:biggrp is uid 4321, gid 70000, outside the component's ids 0-65535"},
		{good, plan.Process{UID: 1, GID: 1, Groups: []string{"7", "biggrp"}}, nil, "groups: run.groups: biggrp is gid 70000, outside the component's ids 0-65535"},
		// The first id past the range (RangeSize) is outside it.
		{good, plan.Process{User: "edge"}, nil, "user: run.user: edge is uid 65536, gid 1, outside the component's ids 0-65535"},
		{good, plan.Process{User: "edgegid"}, nil, "user: run.user: edgegid is uid 1, gid 65536, outside the component's ids 0-65535"},
		{good, plan.Process{User: "svc", Group: "edgegrp"}, nil, "user: run.user: svc:edgegrp is uid 4321, gid 65536, outside the component's ids 0-65535"},
		{good, plan.Process{UID: 1, GID: 1, Groups: []string{"edgegrp"}}, nil, "groups: run.groups: edgegrp is gid 65536, outside the component's ids 0-65535"},
		{map[string]string{"passwd": stagePasswd + long}, svc, nil, `user: run.user: resolving "svc": bufio.Scanner: token too long`},
		{map[string]string{"passwd": huge}, plan.Process{User: "late"}, nil, `user: run.user: no user "late" in the sandbox's /etc/passwd`},
		{map[string]string{"group": stageGroup + long}, plan.Process{UID: 1, GID: 1, Groups: []string{"extra"}}, nil, `groups: run.groups: resolving "extra": bufio.Scanner: token too long`},
		{nil, svc, nil, `user: run.user: resolving "svc": the sandbox has no /etc/passwd; list /etc/passwd under filesystem.read (or extend host-runtime), or give the number`},
		{nil, inRootfs, nil, `user: run.user: resolving "svc": open /etc/passwd: no such file or directory`},
		{map[string]string{"passwd": stagePasswd}, plan.Process{User: "svc", Group: "extra"}, nil, `user: run.user: resolving "extra": the sandbox has no /etc/group; list /etc/group under filesystem.read (or extend host-runtime), or give the number`},
		{nil, plan.Process{UID: 1, GID: 1, Groups: []string{"extra"}}, nil, `groups: run.groups: resolving "extra": the sandbox has no /etc/group; list /etc/group under filesystem.read, or give the gid`},
	} {
		ids, out, failure := stageUser(t, etcDir(t, c.files), c.proc, c.chown)
		if failure != c.want || ids != "" || out != "" {
			t.Errorf("%+v: failure %q, ids %q, output %q; want %q and nothing run", c.proc, failure, ids, out, c.want)
		}
	}
	// A made upper whose path a link steers is refused before OP_USER (safeTarget: the
	// image stage's tests); give() itself, which refuses links on the way, is the Go
	// init's too (TestGiveFollowsNoSymlink).

	// Not a regular file, or through a last symlink.
	for name, make := range map[string]func(etc string) error{
		"/etc/passwd is not a regular file": func(etc string) error { return os.Mkdir(filepath.Join(etc, "passwd"), 0o755) },
		"open /etc/passwd: too many levels of symbolic links": func(etc string) error {
			os.WriteFile(filepath.Join(etc, "real"), []byte(stagePasswd), 0o644)
			return os.Symlink("real", filepath.Join(etc, "passwd"))
		},
		"/etc/passwd is not a regular file ": func(etc string) error { return unix.Mkfifo(filepath.Join(etc, "passwd"), 0o644) },
	} {
		etc := etcDir(t, nil)
		if err := make(etc); err != nil {
			t.Fatal(err)
		}
		want := `user: run.user: resolving "svc": ` + strings.TrimSpace(name)
		if _, _, failure := stageUser(t, etc, inRootfs, nil); failure != want {
			t.Errorf("failure %q, want %q", failure, want)
		}
	}
}
