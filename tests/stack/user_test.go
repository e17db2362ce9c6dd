//go:build linux

package stack_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// namedComponent writes a component that runs the probe as run.user USER, reading the
// extra paths besides the probe.
func namedComponent(t *testing.T, dir, runUser string, read []string, probes ...string) {
	t.Helper()
	quoted := []string{strconv.Quote(probe)}
	for _, a := range probes {
		quoted = append(quoted, strconv.Quote(a))
	}
	src := fmt.Sprintf("version: 1\nname: svc\nrun:\n  command: [%s]\n  user: %s\nfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n",
		strings.Join(quoted, ", "), runUser, strings.Join(append([]string{probe}, read...), ", "))
	if err := os.WriteFile(filepath.Join(dir, "svc.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunUserNames: run.user names resolve in the sandbox's own /etc/passwd and
// /etc/group when the component starts (here the host's, bound read-only): check and
// explain show the name, the component runs as its ids, and ps and the start record
// show them. A name the sandbox's files lack, or a sandbox without the file, fails the
// start closed, saying which.
func TestRunUserNames(t *testing.T) {
	testenv.Require(t, testenv.Root)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		testenv.Missing(t, "no nobody user on this host: %v", err)
	}
	group, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	ids := nobody.Uid + ":" + nobody.Gid
	etc := []string{"/etc/passwd", "/etc/group"}

	name := uniqueName("named", 0)
	dir := t.TempDir()
	namedComponent(t, dir, "nobody:"+group.Name, etc, "id", "sleep:")
	if out := confine(t, "explain", filepath.Join(dir, "svc.yaml")); !strings.Contains(out, "as user nobody, group "+group.Name+" (resolved in the sandbox's") {
		t.Errorf("explain does not show the names:\n%s", out)
	}
	upStack(t, dir, name, "10.97.2.0/24", []string{"svc"}, "", "--grace", "100ms")
	if got := results(t, name, "svc", "id")["id"]; got.Out != ids {
		t.Errorf("svc runs as %+v, want %s", got, ids)
	}
	if got, want := status(t, name)["svc"].User, "nobody:"+group.Name+" "+ids; got != want {
		t.Errorf("ps: user %q, want %q", got, want)
	}
	start := false
	sc := bufio.NewScanner(strings.NewReader(confine(t, "events", name)))
	for sc.Scan() {
		var e supervisor.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == supervisor.EventStart {
			start = fmt.Sprintf("%v:%v", e.Details["uid"], e.Details["gid"]) == ids
		}
	}
	if !start {
		t.Errorf("the start record does not hold the resolved ids %s", ids)
	}

	for i, c := range []struct {
		user string
		read []string
		want string
	}{
		{"confine-no-such-user", etc, `enforcement failed at user: run.user: no user "confine-no-such-user" in the sandbox's /etc/passwd`},
		{"nobody:confine-no-such-group", etc, `run.user: no group "confine-no-such-group" in the sandbox's /etc/group`},
		{"nobody", nil, "run.user: resolving \"nobody\": the sandbox has no /etc/passwd; list /etc/passwd under filesystem.read"},
	} {
		name := uniqueName("unnamed", i)
		dir := t.TempDir()
		namedComponent(t, dir, c.user, c.read, "id", "sleep:")
		stack := filepath.Join(dir, "stack.yaml")
		src := fmt.Sprintf("version: 1\nname: %s\nsubnet: 10.97.%d.0/24\ncomponents: [svc.yaml]\n", name, 3+i)
		if err := os.WriteFile(stack, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		confine(t, "check", stack)
		_, errOut, code := runConfine("up", "-d", "--wait", "20s", "--grace", "100ms", "--audit-log", filepath.Join(dir, "audit.log"), stack)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("run.user %s: up exit %d, %q; want exit 2 and %q", c.user, code, errOut, c.want)
		}
		assertNothingLeft(t, name)
	}
}
