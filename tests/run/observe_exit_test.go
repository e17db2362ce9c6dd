//go:build linux

package run_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestObservedCallBeforeExit: audit mode hands each call to Observe after answering it,
// so the component may exit before Observe has it; Wait returns only once every call was
// handed over. The component's last act is an observed write, and Observe takes its time
// with each call: after Wait it has seen the write. Without Wait's wait for the
// notifications, Wait returns first and the write is missing (the audit log closed before
// its denial: TestAuditModeRootless, now and then).
func TestObservedCallBeforeExit(t *testing.T) {
	testenv.Require(t, testenv.Root)
	c := compile(t, "mode: audit\n", "write:/proc/self/comm")
	var wrote atomic.Bool
	seen := func(call observe.Call) {
		time.Sleep(100 * time.Millisecond) // a slow observer, not a timing asserted
		if sandbox.OpenFlags(call)&observe.OpenWrite != 0 {
			wrote.Store(true)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{Observe: seen}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sb.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if !wrote.Load() {
		t.Error("Wait returned before Observe had the component's last call, its write")
	}
}
