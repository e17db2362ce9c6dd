//go:build linux

package run_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestLate: Launch runs Options.Late once the init stage has its program (the spare
// that took it runs the stage up to its wait for the go signal while Late runs; through
// exec.Cmd, once the init stage is cloned), and once only, a restart included. A Late
// error ends the start with that very error; a Late skip other than Launch's starts over
// with it (here without a cgroup); a finding that changes nothing Launch starts
// (landlock) keeps the start. The first start's init stage is killed and reaped, and no
// cgroup or root directory of it is left. A start that fails before its program is sent
// (a bad env_file) has Late's error first, as the preflight came first, and its own when
// Late agrees.
func TestLate(t *testing.T) {
	testenv.Require(t, testenv.Root)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := compile(t, "resources: {pids: 16, memory: 64Mi}\n", "id:")
	stop := errors.New("the preflight refuses")
	// exec.Cmd's start (the Go init's pass too): Late runs once the init stage is cloned.
	roots, calls := ownRoots(), 0
	if _, err := sandbox.Launch(context.Background(), c, sandbox.Options{Late: func() (map[string]bool, error) {
		calls++
		return nil, stop
	}}, nil); err != stop || calls != 1 {
		t.Errorf("exec.Cmd's start: Launch gave %v after %d calls of Late; want Late's error, once", err, calls)
	}
	if after := ownRoots(); len(after) > len(roots) {
		t.Errorf("exec.Cmd's start: root directories left: %v", after)
	}
	assertNoCgroups(t)

	sp := startSpawner(t)
	spare := 0
	for _, tc := range []struct {
		name     string
		skip     map[string]bool
		err      error
		restarts bool
	}{
		{"refused", nil, stop, false},
		{"another skip", map[string]bool{"cgroups": true}, nil, true},
		{"a finding that changes nothing", map[string]bool{"landlock": true}, nil, false},
	} {
		spare = waitSpare(t, sp, spare)
		roots := ownRoots()
		calls := 0
		opts := sandbox.Options{Spawner: sp, Late: func() (map[string]bool, error) {
			calls++
			waitRecvmsg(t, spare, 5) // the spare has its program, and waits for the go signal
			return tc.skip, tc.err
		}}
		sb, err := sandbox.Launch(context.Background(), c, opts, nil)
		if calls != 1 {
			t.Errorf("%s: Late ran %d times, want once", tc.name, calls)
		}
		if tc.err != nil {
			if err != tc.err || sb != nil {
				t.Errorf("%s: Launch gave %v, %v; want Late's error as it is", tc.name, sb, err)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		} else {
			if sb.Pid() == spare == tc.restarts {
				t.Errorf("%s: the init stage is %d, the spare %d: want a restart %v", tc.name, sb.Pid(), spare, tc.restarts)
			}
			if (sb.Cgroup() == nil) != tc.skip["cgroups"] {
				t.Errorf("%s: cgroup %v with skip %v", tc.name, sb.Cgroup(), tc.skip)
			}
			if code, err := sb.Wait(); code != 0 || err != nil {
				t.Errorf("%s: exit %d, %v", tc.name, code, err)
			}
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", spare)); (tc.err != nil || tc.restarts) && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the first start's init stage %d is still there (%v)", tc.name, spare, err)
		}
		if after := ownRoots(); len(after) > len(roots) {
			t.Errorf("%s: root directories left: %v", tc.name, after)
		}
		assertNoCgroups(t)
	}

	// A bad env_file stops the start before its program is sent: Late comes first.
	c.Process.EnvFile = "/nonexistent/env"
	for _, lateErr := range []error{stop, nil} {
		calls := 0
		_, err := sandbox.Launch(context.Background(), c, sandbox.Options{Spawner: sp, Late: func() (map[string]bool, error) {
			calls++
			return nil, lateErr
		}}, nil)
		var se *sandbox.StepError
		if calls != 1 || lateErr != nil && err != lateErr || lateErr == nil && (!errors.As(err, &se) || se.Step != "env") {
			t.Errorf("a bad env_file, Late %v: Launch gave %v after %d calls of Late", lateErr, err, calls)
		}
	}
}

// TestLateBeforeFirstIDs: a component's first start records its id range (a lock and a
// record under /var/lib/confine/ids, and confine's entries in /etc/subuid and /etc/subgid
// when they are missing), which outlives the run: its Late runs first, so that a
// preflight that refuses leaves none of it, as when the preflight came before the start.
// A component whose range is recorded already keeps Late after the program's send.
func TestLateBeforeFirstIDs(t *testing.T) {
	testenv.Require(t, testenv.Root)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := compile(t, "", "id:")
	c.Name = "late-ids-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	const dir = "/var/lib/confine/ids"
	made := []string{filepath.Join(dir, c.Name), filepath.Join(dir, ".run-"+c.Name+".lock")}
	t.Cleanup(func() {
		for _, f := range made {
			os.Remove(f)
		}
	})
	stop := errors.New("the preflight refuses")
	sp := startSpawner(t)
	_, err := sandbox.Launch(context.Background(), c, sandbox.Options{Spawner: sp, Late: func() (map[string]bool, error) {
		return nil, stop
	}}, nil)
	if err != stop {
		t.Fatalf("Launch gave %v; want Late's error", err)
	}
	for _, f := range made {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused first start left %s (%v)", f, err)
		}
	}
	assertNoCgroups(t)
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Spawner: sp, Late: func() (map[string]bool, error) {
		return nil, nil
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sb.Wait(); code != 0 || err != nil {
		t.Errorf("exit %d, %v", code, err)
	}
	if _, err := os.Stat(made[0]); err != nil {
		t.Errorf("the first start that went on recorded no range: %v", err)
	}
}

// TestKilledStartLeavesNoLoad: a start that ends before the go signal (here its Late
// refuses, right after the clone) has no firewall load of its own still running once
// Launch returns: the load names the init stage by its pid, which the reap frees, and a
// load left over ran beside the next start's (two loads at once, which google/nftables'
// set ids do not allow).
func TestKilledStartLeavesNoLoad(t *testing.T) {
	testenv.Require(t, testenv.Root)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := compile(t, "", "id:")
	stop := errors.New("the preflight refuses")
	for i := 0; i < 5; i++ {
		_, err := sandbox.Launch(context.Background(), c, sandbox.Options{Late: func() (map[string]bool, error) {
			return nil, stop
		}}, nil)
		if err != stop {
			t.Fatalf("Launch gave %v; want Late's error", err)
		}
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		if strings.Contains(b.String(), "netfilter.ApplyNew") {
			t.Fatalf("start %d: a firewall load still runs after Launch returned:\n%s", i, b.String())
		}
	}
}
