//go:build linux

// Package services_test runs nginx, Redis and PostgreSQL from Debian's packages under
// confine, with the policies of examples/services and the packaged configuration
// files, and talks to each with its real client (curl, redis-cli, psql) through the
// port the stack publishes on the host's loopback. Each also tries what its policy
// does not declare and must be refused. As root, on a real kernel.
package services_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

var bin string

func TestMain(m *testing.M) {
	testenv.Main(m, "confine-services-", func(dir string) {
		bin = filepath.Join(dir, "confine")
	})
}

// confine runs the binary and returns its stdout; a non-zero exit fails the test.
func confine(t *testing.T, args ...string) string {
	t.Helper()
	return testenv.Run(t, bin, args...)
}

// service is one example brought up in a directory of its own.
type service struct {
	dir, stack, address string
	port                int // the published port on 127.0.0.1
}

// workDir is a directory the components' ns-root can traverse (t.TempDir is 0700).
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "confine-svc-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// copyExample copies examples/services/NAME into dir, applying edits (old → new) to
// the component file, and writes the stack file with a unique name and a free port.
func copyExample(t *testing.T, dir, name, component string, edits ...string) *service {
	t.Helper()
	src := filepath.Join("../../examples/services", name)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == component {
			for i := 0; i+1 < len(edits); i += 2 {
				if !bytes.Contains(data, []byte(edits[i])) {
					t.Fatalf("%s has no %q to replace", e.Name(), edits[i])
				}
				data = bytes.ReplaceAll(data, []byte(edits[i]), []byte(edits[i+1]))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &service{dir: dir, stack: testenv.StackName("svc-" + name), port: freePort(t)}
	stack, err := os.ReadFile(filepath.Join(dir, "stack.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stack = regexp.MustCompile(`(?m)^name: .*$`).ReplaceAll(stack, []byte("name: "+s.stack))
	stack = regexp.MustCompile(`127\.0\.0\.1:\d+ ->`).ReplaceAll(stack, []byte(fmt.Sprintf("127.0.0.1:%d ->", s.port)))
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), stack, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// up brings the stack up and waits until its one component is running (and healthy,
// with a health check); it goes down at the end of the test, leaving nothing.
func (s *service) up(t *testing.T, component string) {
	t.Helper()
	confine(t, "up", "-d", filepath.Join(s.dir, "stack.yaml"), "--audit-log", filepath.Join(s.dir, "audit.log"))
	t.Cleanup(func() {
		if _, alive := supervisor.Running(s.stack); alive {
			confine(t, "down", "--grace", "5s", s.stack)
		}
		if _, err := os.Stat(filepath.Join(netfilter.NetnsDir, s.stack)); err == nil {
			t.Errorf("the stack's network namespace is left")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []supervisor.Status
		if err := json.Unmarshal([]byte(confine(t, "ps", "--json", s.stack)), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].State == supervisor.StateRunning && (list[0].Health == "" || list[0].Health == supervisor.HealthHealthy) {
			s.address = list[0].Address
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready: %+v\n%s", component, list, confine(t, "logs", s.stack, component))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// refusedFromBridge checks that a port the policy does not declare is dropped (the
// connection times out, where a closed port without the firewall answers at once),
// dialled from the stack's namespace as a published port's caller is, and that the
// declared port answers from the same place.
func (s *service) refusedFromBridge(t *testing.T, declared, undeclared int) {
	t.Helper()
	ns := filepath.Join(netfilter.NetnsDir, s.stack)
	conn, err := netfilter.DialFrom(ns, "tcp4", net.JoinHostPort(s.address, strconv.Itoa(declared)), 5*time.Second)
	if err != nil {
		t.Fatalf("the declared port %d from the bridge: %v", declared, err)
	}
	conn.Close()
	_, err = netfilter.DialFrom(ns, "tcp4", net.JoinHostPort(s.address, strconv.Itoa(undeclared)), 2*time.Second)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("port %d, undeclared: want the connection dropped (a timeout), got %v", undeclared, err)
	}
}

// status is the stack's one component as ps reports it.
func (s *service) status(t *testing.T) supervisor.Status {
	t.Helper()
	var list []supervisor.Status
	if err := json.Unmarshal([]byte(confine(t, "ps", "--json", s.stack)), &list); err != nil || len(list) != 1 {
		t.Fatalf("ps: %v %+v", err, list)
	}
	return list[0]
}

// ids are a user's uid and primary gid on the host, to make its data directory and to
// compare ownership and ps with: the policies name the user, never these numbers.
func ids(t *testing.T, name string) (uid, gid string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u.Uid, u.Gid
}

func owner(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid))
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

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func require(t *testing.T, commands ...string) {
	t.Helper()
	needs := []testenv.Need{testenv.Root, testenv.Nftables}
	for _, c := range commands {
		needs = append(needs, testenv.Command(c))
	}
	testenv.Require(t, needs...)
}
