package netfilter

import (
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestLegacyForwardDrop reads the legacy FORWARD policy in a namespace of its own: none
// before iptables-legacy made the table, ACCEPT, then DROP.
func TestLegacyForwardDrop(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Command("iptables-legacy"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // no Unlock: the thread leaves the test's namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		for _, c := range []struct {
			policy string
			want   bool
		}{{"", false}, {"ACCEPT", false}, {"DROP", true}, {"ACCEPT", false}} {
			if c.policy != "" {
				// The child is forked from this thread, in its namespace.
				if out, err := exec.Command("iptables-legacy", "-P", "FORWARD", c.policy).CombinedOutput(); err != nil {
					t.Errorf("iptables-legacy -P FORWARD %s: %v\n%s", c.policy, err, out)
					return
				}
			}
			got, err := legacyForwardDrop()
			if err != nil || got != c.want {
				t.Errorf("policy %q: legacyForwardDrop() = %v, %v; want %v", c.policy, got, err, c.want)
			}
		}
	}()
	<-done
}
