//go:build linux

// Package learn_test proves confine learn on Debian's nginx and Redis: each is learned in
// audit mode under a workload from its real client, then run under the learned policy
// with full enforcement, where the same workload meets no denial but expected ones, an
// action never exercised while learning is refused, and `confine audit diff` shows the
// learned policy narrower than the default profile. As root, on a real kernel.
package learn_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

var bin string

func TestMain(m *testing.M) {
	testenv.Main(m, "confine-learn-", func(dir string) {
		bin = filepath.Join(dir, "confine")
	})
}

func confine(t *testing.T, args ...string) string {
	t.Helper()
	return testenv.Run(t, bin, args...)
}

func require(t *testing.T, commands ...string) {
	t.Helper()
	needs := []testenv.Need{testenv.Root, testenv.Nftables}
	for _, c := range commands {
		needs = append(needs, testenv.Command(c))
	}
	testenv.Require(t, needs...)
}

// workDir is under /var/tmp, which audit mode's view of the host shows (it shows /var
// read-only; /tmp is the sandbox's own), and traversable by the components' ids.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "confine-learn-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stacks numbers the stacks of this process's tests.
var stacks atomic.Int32

// upStack runs the learned component as a one-component stack that publishes its port
// on 127.0.0.1, enforcing, with an audit log; it returns the published port.
func upStack(t *testing.T, dir, name, component string, port int) (published int, log string) {
	t.Helper()
	stack := testenv.StackName(fmt.Sprintf("learn-%s%d", name, stacks.Add(1)))
	published = freePort(t)
	write(t, filepath.Join(dir, "stack.yaml"), fmt.Sprintf("version: 1\nname: %s\nsubnet: 10.89.%d.0/24\ncomponents: [%s]\npublish: [\"127.0.0.1:%d -> %s:%d/tcp\"]\n",
		stack, 200+len(name), filepath.Base(component), published, name, port))
	log = filepath.Join(dir, "enforced.log")
	confine(t, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", log)
	t.Cleanup(func() { exec.Command(bin, "down", "--grace", "5s", stack).Run() })
	return published, log
}

func down(t *testing.T, dir string) {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dir, "stack.yaml"))
	name := regexp.MustCompile(`(?m)^name: (\S+)`).FindSubmatch(data)
	confine(t, "down", "--grace", "5s", string(name[1]))
}

// denials returns the log's denials before and after a time, leaving out expected ones.
func denials(t *testing.T, log string, split time.Time) (before, after []string) {
	t.Helper()
	var recs []audit.Record
	for _, f := range audit.LogFiles(log) {
		r, err := audit.ReadLog(f)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
	}
	for _, r := range recs {
		if r.Kind != audit.KindDenial || r.Details[audit.DetailExpected] == true {
			continue
		}
		what := fmt.Sprint(r.Details[audit.DetailWhat])
		if r.Time.Before(split) {
			before = append(before, what)
		} else {
			after = append(after, what)
		}
	}
	return before, after
}

// syscalls counts the syscalls a policy's filter allows (with or without conditions).
func syscalls(t *testing.T, file string) int {
	t.Helper()
	var p plan.Plan
	if err := json.Unmarshal([]byte(confine(t, "compile", file, "--format", "json")), &p); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range p.Components[0].Seccomp.Rules {
		if r.Action == "allow" {
			for _, n := range r.Syscalls {
				names[n] = true
			}
		}
	}
	return len(names)
}

// narrower writes the learned policy with the default profile's syscalls in place of
// the learned ones, and checks that audit diff finds the learned one grants nothing
// more (exit 0) and takes syscalls away; it returns both syscall counts.
func narrower(t *testing.T, learned string) (learnedN, defaultN int) {
	t.Helper()
	data, err := os.ReadFile(learned)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?ms)^syscalls:\n.*?(^[a-z]|\z)`)
	def := re.ReplaceAllString(string(data), "syscalls: {extends: default}\n$1")
	defFile := filepath.Join(filepath.Dir(learned), "default-"+filepath.Base(learned))
	write(t, defFile, def)
	cmd := exec.Command(bin, "audit", "diff", defFile, learned)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("audit diff default learned: %v (exit 1: the learned policy grants more)\n%s", err, out)
	}
	if !strings.Contains(string(out), "Takes away") || !strings.Contains(string(out), "syscall `") {
		t.Errorf("audit diff shows no syscall taken away:\n%s", out)
	}
	return syscalls(t, learned), syscalls(t, defFile)
}

func ids(t *testing.T, name string) (uid, gid string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u.Uid, u.Gid
}

func sh(t *testing.T, script string) (string, error) {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
	return string(out), err
}
