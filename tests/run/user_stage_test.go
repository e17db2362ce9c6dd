//go:build linux

package run_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// namedRootfs is a rootfs holding the probe and the given /etc/passwd and /etc/group.
func namedRootfs(t *testing.T, passwd, group string) string {
	t.Helper()
	rootfs := openDir(t)
	for _, d := range []string{"probe", "etc", "proc", "dev"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o755)
	}
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte(passwd), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte(group), 0o644)
	bin, err := os.ReadFile(filepath.Join(probeDir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "probe", "probe"), bin, 0o755)
	return rootfs
}

// runNamed runs the probe in rootfs as run.user user with run.groups groups, under the
// init stage mode ("c" or "go"), traced: its exit status, output and standard error.
func runNamed(t *testing.T, rootfs, mode, user, groups string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(confineBin, "run", namedPolicy(t, rootfs, user, groups, args...))
	cmd.Env = append(os.Environ(), "CONFINE_STAGE="+mode, "CONFINE_TRACE=1")
	var out strings.Builder
	cmd.Stdout = &out
	code, stderr := exitOf(cmd)
	if chosen := strings.Contains(stderr, "render_c_stage"); chosen != (mode == "c") {
		t.Errorf("%s: run.user %s: the C stage ran: %v, want %v:\n%s", mode, user, chosen, mode == "c", stderr)
	}
	return code, out.String(), stderr
}

// namedPolicy writes the policy runNamed runs.
func namedPolicy(t *testing.T, rootfs, user, groups string, args ...string) string {
	t.Helper()
	src := fmt.Sprintf("version: 1\nname: named\nrun:\n  command: [/probe/probe, \"%s\"]\n  rootfs: %s\n  user: %q\n  groups: [%s]\nfilesystem: {read: [/probe, /etc]}\nsyscalls: {extends: default}\n",
		strings.Join(args, `", "`), rootfs, user, groups)
	file := filepath.Join(t.TempDir(), "named.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

const namedPasswd = "root:x:0:0::/:/bin/sh\nsvc:x:4321:4322::/:/bin/sh\nsvc:x:1:1::/:/bin/sh\nbig:x:70000:1::/:/bin/sh\nodd:x:12a:1::/:/bin/sh\n"

// TestNamedUserStage: a run whose run.user and run.groups are names takes the C stage
// (CONFINE_STAGE=go the Go init), and under both the component runs as the ids and with
// the groups the rootfs's own /etc/passwd and /etc/group give (the first valid line of a
// name). A hostile /etc/passwd (a line past bufio's 64 KiB, a file past 1 MiB, ids that
// are not numbers, an id past the component's range, a name that is not there) fails the
// start closed, exit 2, in the same words under both.
func TestNamedUserStage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	group := "root:x:0:\nsvc:x:4322:\nssl-cert:x:4242:svc\n"
	huge := strings.Repeat("filler:x:1:1:"+strings.Repeat("f", 1000)+"\n", 1100) + "late:x:5:5::/:/bin/sh\n"
	rootfs := namedRootfs(t, namedPasswd+huge, group)
	long := namedRootfs(t, namedPasswd+"pad:x:1:1:"+strings.Repeat("g", 70000)+"\n", group)
	for _, mode := range []string{"c", "go"} {
		code, out, stderr := runNamed(t, rootfs, mode, "svc", `ssl-cert, "50"`, "id:", "groups:")
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", mode, code, stderr)
		}
		if !strings.Contains(stderr, "confine-trace init   user") {
			t.Errorf("%s: no user step in the trace:\n%s", mode, stderr)
		}
		res := results(out)
		if r := res["id:"]; r.Out != "4321:4322" {
			t.Errorf("%s: id: %+v, want 4321:4322 (svc's first valid line)", mode, r)
		}
		if r := res["groups:"]; r.Out != "50,4242" {
			t.Errorf("%s: groups: %+v, want 50,4242 (ssl-cert and 50)", mode, r)
		}
		for _, c := range []struct{ root, user, want string }{
			{rootfs, "ghost", `enforcement failed at user: run.user: no user "ghost" in the sandbox's /etc/passwd`},
			{rootfs, "odd", `enforcement failed at user: run.user: no user "odd" in the sandbox's /etc/passwd`},
			{rootfs, "late", `enforcement failed at user: run.user: no user "late" in the sandbox's /etc/passwd`},
			{rootfs, "big", "enforcement failed at user: run.user: big is uid 70000, gid 1, outside the component's ids 0-65535"},
			{long, "svc", `enforcement failed at user: run.user: resolving "svc": bufio.Scanner: token too long`},
		} {
			code, out, stderr := runNamed(t, c.root, mode, c.user, "", "id:")
			if code != 2 || !strings.Contains(stderr, c.want) || out != "" {
				t.Errorf("%s: run.user %s: exit %d, output %q, stderr %q; want exit 2, no output and %q", mode, c.user, code, out, stderr, c.want)
			}
		}
	}

	// A rootfs whose /etc is an absolute symlink: it resolves in the rootfs, after
	// pivot_root (on the host, /etc.named-inner does not exist).
	linked := namedRootfs(t, namedPasswd, group)
	if err := os.Rename(filepath.Join(linked, "etc"), filepath.Join(linked, "etc.named-inner")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc.named-inner", filepath.Join(linked, "etc")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"c", "go"} {
		code, out, stderr := runNamed(t, linked, mode, "svc", "", "id:")
		if r := results(out)["id:"]; code != 0 || r.Out != "4321:4322" {
			t.Errorf("%s: /etc a symlink in the rootfs: exit %d, id: %+v; want 4321:4322:\n%s", mode, code, r, stderr)
		}
	}

	// The parent learns the ids from the stage (fdIDs), through the spawner or not.
	file := namedPolicy(t, rootfs, "svc", "", "id:")
	s, err := policy.Open(os.DirFS(filepath.Dir(file)), filepath.Base(file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, sp := range []*sandbox.Spawner{nil, sharedSpawner()} {
		var out strings.Builder
		sb, err := sandbox.Launch(context.Background(), &p.Components[0], sandbox.Options{Stdout: &out, Spawner: sp}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sb.Wait()
		if spawned, why := sb.Spawned(); spawned != (sp != nil) {
			t.Errorf("spawner %v: the spawner made the init stage: %v (%v)", sp != nil, spawned, why)
		}
		if uid, gid := sb.IDs(); uid != 4321 || gid != 4322 || results(out.String())["id:"].Out != "4321:4322" {
			t.Errorf("spawner %v: the parent has ids %d:%d, the component %+v; want 4321:4322", sp != nil, uid, gid, results(out.String())["id:"])
		}
	}
}
