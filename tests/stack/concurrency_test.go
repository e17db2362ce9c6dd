//go:build linux

package stack_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// uniqueName is the i-th stack of a kind, named for this process alone (testenv.StackName).
func uniqueName(kind string, i int) string { return testenv.StackName(fmt.Sprintf("%s%d", kind, i)) }

// runConfine runs the binary and returns its output and exit status, for the commands
// whose failure the test expects.
func runConfine(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		code = -1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

// writeStack writes a stack of one probe component, svc, in a directory of its own and
// returns the stack file.
func writeStack(t *testing.T, name, subnet, body string, probes ...string) string {
	t.Helper()
	dir := t.TempDir()
	component(t, dir, "svc", body, probes...)
	path := filepath.Join(dir, "stack.yaml")
	src := fmt.Sprintf("version: 1\nname: %s\nsubnet: %s\ncomponents: [svc.yaml]\n", name, subnet)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// healthy is a component that serves its health check port.
const healthy = "  health: {tcp: 7000, interval: 200ms}\nnetwork:\n  listen: [{port: 7000/tcp, from: [host]}]"

// auditBaseline is the kernel's audit as the host has it on its own, and whether a
// supervisor of an older confine (the legacy lock) could change it meanwhile unrecorded.
type auditBaseline struct {
	view   sandbox.KernelAuditView
	legacy []byte
}

func inspectAudit(t *testing.T) auditBaseline {
	t.Helper()
	v, err := sandbox.InspectKernelAudit()
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := os.ReadFile("/run/confine/kernel-audit.lock")
	return auditBaseline{v, legacy}
}

// quiet reports whether nothing but confine's holders, recorded, could have changed the
// kernel's audit between the two looks.
func quiet(a, b auditBaseline) bool {
	return !a.view.Legacy && !b.view.Legacy && bytes.Equal(a.legacy, b.legacy)
}

// holderOf names pid's holder files among the holders.
func holderOf(v sandbox.KernelAuditView, pid int) []string {
	var out []string
	for _, h := range v.Holders {
		if strings.HasPrefix(h, strconv.Itoa(pid)+"-") {
			out = append(out, h)
		}
	}
	return out
}

// assertRestored checks, after the test's supervisors are gone, that none of them is
// still a holder and, when no holder is left at all, that the kernel's audit is the
// host's own again. Another suite's live holder may keep it on: that is not asserted.
func assertRestored(t *testing.T, pre auditBaseline, pids []int) {
	t.Helper()
	post := inspectAudit(t)
	for _, pid := range pids {
		if h := holderOf(post.view, pid); len(h) > 0 {
			t.Errorf("supervisor %d is still a holder of the kernel's audit: %v", pid, h)
		}
	}
	if !quiet(pre, post) {
		t.Logf("an older confine holds the kernel's audit: not comparing")
		return
	}
	if post.view.Host != pre.view.Host {
		t.Errorf("the host's own audit settings were %+v, and are recorded as %+v", pre.view.Host, post.view.Host)
	}
	if len(post.view.Holders) == 0 && post.view.Now != pre.view.Host {
		t.Errorf("no holder is left, and the kernel's audit is %+v; the host had %+v", post.view.Now, pre.view.Host)
	}
	t.Logf("audit before %+v (host %+v), after %+v (host %+v), holders after %v", pre.view.Now, pre.view.Host, post.view.Now, post.view.Host, post.view.Holders)
}

// assertHeld checks that the kernel's audit is as the supervisors need it while they run.
func assertHeld(t *testing.T, pre, during auditBaseline) {
	t.Helper()
	now := during.view.Now
	if quiet(pre, during) && (now.Enabled == 0 || now.BacklogLimit != 0 && now.BacklogLimit < sandbox.KernelAuditBacklog) {
		t.Errorf("the kernel's audit is %+v while stacks run", now)
	}
}

// TestManyStacks: 8 stacks come up at once and 8 more one after the other while those
// run, none waiting on another, then all go down in a shuffled order; the kernel's audit
// is held while they run and is the host's own again at the end.
func TestManyStacks(t *testing.T) {
	testenv.Require(t, testenv.Root)
	pre := inspectAudit(t)
	const n = 16
	names, files := make([]string, n), make([]string, n)
	for i := range n {
		names[i] = uniqueName("many", i)
		files[i] = writeStack(t, names[i], fmt.Sprintf("10.91.%d.0/24", i), healthy, "serve:tcp/7000", "sleep:")
	}
	t.Cleanup(func() {
		for _, name := range names {
			if _, alive := supervisor.Running(name); alive {
				runConfine("down", "--grace", "100ms", name)
			}
		}
	})
	took := make([]time.Duration, n)
	up := func(i int) error {
		start := time.Now()
		defer func() { took[i] = time.Since(start) }()
		out, errOut, code := runConfine("up", "-d", "--wait", "60s", "--grace", "100ms", "--audit-log", filepath.Join(filepath.Dir(files[i]), "audit.log"), files[i])
		if code != 0 {
			return fmt.Errorf("up %s: exit %d\n%s%s", names[i], code, out, errOut)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n / 2 {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = up(i) }()
	}
	wg.Wait()
	for i := n / 2; i < n; i++ {
		errs[i] = up(i)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("up -d took %v (8 at once), then %v (one after the other)", took[:n/2], took[n/2:])
	during := inspectAudit(t)
	pids := make([]int, n)
	for i, name := range names {
		pid, alive := supervisor.Running(name)
		if !alive {
			t.Fatalf("the supervisor of %s does not run", name)
		}
		pids[i] = pid
		if st := status(t, name)["svc"]; st.Health != supervisor.HealthHealthy {
			t.Errorf("%s: svc is %s, %s right after up", name, st.State, st.Health)
		}
		if len(holderOf(during.view, pid)) != 1 {
			t.Errorf("supervisor %d of %s is not a holder of the kernel's audit: %v", pid, name, during.view.Holders)
		}
	}
	assertHeld(t, pre, during)
	for _, i := range mrand.Perm(n) {
		if out, errOut, code := runConfine("down", "--grace", "100ms", names[i]); code != 0 {
			t.Errorf("down %s: exit %d\n%s%s", names[i], code, out, errOut)
		}
		assertGone(t, names[i])
	}
	assertRestored(t, pre, pids)
}

// TestKilledSupervisorAudit: a SIGKILLed supervisor cannot restore the kernel's audit;
// the next down, or the next run, does when no other holder lives.
func TestKilledSupervisorAudit(t *testing.T) {
	testenv.Require(t, testenv.Root)
	for i, next := range []string{"down", "run"} {
		t.Run(next, func(t *testing.T) {
			pre := inspectAudit(t)
			name := uniqueName("kill", i)
			file := writeStack(t, name, fmt.Sprintf("10.92.%d.0/24", i), healthy, "serve:tcp/7000", "sleep:")
			confine(t, "up", "-d", "--audit-log", filepath.Join(filepath.Dir(file), "audit.log"), file)
			pid, alive := supervisor.Running(name)
			if !alive {
				t.Fatal("no supervisor")
			}
			during := inspectAudit(t)
			if len(holderOf(during.view, pid)) != 1 {
				t.Fatal("the supervisor is not a holder of the kernel's audit")
			}
			assertHeld(t, pre, during)
			syscall.Kill(pid, syscall.SIGKILL)
			for !testenv.Exited(pid) { // its claim is free only then
				time.Sleep(10 * time.Millisecond)
			}
			switch next {
			case "down":
				confine(t, "down", name)
			case "run":
				dir := t.TempDir()
				component(t, dir, "once", "", "exit:0")
				confine(t, "run", filepath.Join(dir, "once.yaml"))
			}
			assertRestored(t, pre, []int{pid})
			if next == "run" {
				confine(t, "down", name)
			}
			assertGone(t, name)
		})
	}
}

// TestAlreadyUp: `up` and `up -d` of a stack that is up exit 1 and leave its supervisor,
// its log and its audit log as they were.
func TestAlreadyUp(t *testing.T) {
	testenv.Require(t, testenv.Root)
	name := uniqueName("again", 0)
	file := writeStack(t, name, "10.93.0.0/24", healthy, "serve:tcp/7000", "sleep:")
	auditLog := filepath.Join(filepath.Dir(file), "audit.log")
	confine(t, "up", "-d", "--audit-log", auditLog, file)
	t.Cleanup(func() { confine(t, "down", "--grace", "100ms", name); assertGone(t, name) })
	pid, _ := supervisor.Running(name)
	log, err := os.ReadFile(supervisor.DetachedLog(name))
	if err != nil || !strings.Contains(string(log), "is up") {
		t.Fatalf("the supervisor's log: %q, %v", log, err)
	}
	records, err := os.ReadFile(auditLog)
	if err != nil || len(records) == 0 {
		t.Fatalf("the audit log: %v", err)
	}
	for _, args := range [][]string{{"up", "-d", "--audit-log", auditLog, file}, {"up", "--audit-log", auditLog, file}} {
		_, errOut, code := runConfine(args...)
		if code != 1 || !strings.Contains(errOut, "stack "+name+" is already up") {
			t.Errorf("confine %s: exit %d, %q; want 1 and \"stack %s is already up\"", strings.Join(args, " "), code, errOut, name)
		}
	}
	if now, alive := supervisor.Running(name); !alive || now != pid {
		t.Errorf("the supervisor %d: now %d, alive %v", pid, now, alive)
	}
	if st := status(t, name)["svc"]; st.State != supervisor.StateRunning {
		t.Errorf("svc: %+v", st)
	}
	// Both logs may have grown since, never lost what they had.
	for path, before := range map[string][]byte{supervisor.DetachedLog(name): log, auditLog: records} {
		after, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(after, before) {
			t.Errorf("%s was rewritten: %d bytes before, %d after (%v)", path, len(before), len(after), err)
		}
	}
}

// TestUpReady: up -d returns once every component is healthy and the published port
// forwards: api is healthy only 300 ms after it started, and nothing depends on it; web
// has no health check and listens only after 1 s; the first connection after up returns
// gets web's answer.
func TestUpReady(t *testing.T) {
	testenv.Require(t, testenv.Root)
	name := uniqueName("ready", 0)
	dir := t.TempDir()
	component(t, dir, "web", "network:\n  listen: [{port: 8080/tcp, from: [host]}]", "pause:1s", "serve:tcp/8080", "sleep:")
	component(t, dir, "api", "  health: {tcp: 9000, interval: 200ms}\nnetwork:\n  listen: [{port: 9000/tcp, from: [host]}]", "pause:300ms", "serve:tcp/9000", "sleep:")
	pub := freePort(t)
	upStack(t, dir, name, "10.94.0.0/24", []string{"web", "api"}, fmt.Sprintf("publish: [\"127.0.0.1:%d -> web:8080/tcp\"]\n", pub), "--grace", "100ms")
	conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", pub), 2*time.Second)
	if err != nil {
		t.Fatalf("the published port right after up: %v", err)
	}
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	answer, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if answer = strings.TrimSpace(answer); answer != "hello from web" {
		t.Errorf("the published port right after up answered %q, want \"hello from web\"", answer)
	}
	if st := status(t, name)["api"]; st.Health != supervisor.HealthHealthy {
		t.Errorf("api right after up: %+v", st)
	}
}

// TestUpBounded: a component that never becomes healthy makes up -d fail at its --wait,
// with a message, and leave nothing behind; so does SIGINT to an up -d still waiting.
func TestUpBounded(t *testing.T) {
	testenv.Require(t, testenv.Root)
	never := "  health: {tcp: 7000, interval: 100ms}\nnetwork:\n  listen: [{port: 7000/tcp, from: [host]}]"
	t.Run("timeout", func(t *testing.T) {
		name := uniqueName("late", 0)
		file := writeStack(t, name, "10.95.0.0/24", never, "sleep:")
		_, errOut, code := runConfine("up", "-d", "--wait", "1500ms", "--grace", "100ms", "--audit-log", filepath.Join(filepath.Dir(file), "audit.log"), file)
		if code != 2 || !strings.Contains(errOut, "did not come up within") || !strings.Contains(errOut, "svc is not healthy") {
			t.Errorf("up -d of a stack that never gets healthy: exit %d, %q", code, errOut)
		}
		assertNothingLeft(t, name)
	})
	t.Run("interrupted", func(t *testing.T) {
		name := uniqueName("late", 1)
		file := writeStack(t, name, "10.95.1.0/24", never, "sleep:")
		var errOut bytes.Buffer
		cmd := exec.Command(bin, "up", "-d", "--wait", "60s", "--grace", "100ms", "--audit-log", filepath.Join(filepath.Dir(file), "audit.log"), file)
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Interrupt once the supervisor started the component.
		var sup int
		for i := 0; ; i++ {
			if pid, alive := supervisor.Running(name); alive {
				if _, err := os.Stat(filepath.Join(supervisor.StateDir(name), "api.sock")); err == nil {
					sup = pid
					break
				}
			}
			if i == 1000 {
				cmd.Process.Kill()
				t.Fatal("the supervisor never started")
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("up -d interrupted: %v, %q", err, errOut.String())
		}
		if !sandbox.Gone(sup) {
			t.Errorf("the supervisor %d outlived its interrupted up -d", sup)
		}
		assertNothingLeft(t, name)
	})
}

// assertNothingLeft is assertGone, and neither the supervisor's log nor the claim remains.
func assertNothingLeft(t *testing.T, name string) {
	t.Helper()
	assertGone(t, name)
	for _, p := range []string{supervisor.DetachedLog(name), supervisor.ClaimPath(name)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left", p)
		}
	}
}
