package sandbox

import (
	"context"
	"os"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// A start of an audit-mode component that fails to clone leaves no descriptor behind:
// neither the notify socket's supervisor end nor the config pipe's (a supervisor
// restarts components, and each failed start would keep two).
func TestStartFailureClosesNotifySocket(t *testing.T) {
	testenv.Require(t, testenv.Root) // the id range
	c := &plan.Component{Name: "notifyleak", Process: plan.Process{Args: []string{"/bin/true"}, Cwd: "/", UID: 1000, GID: 1000},
		Audit: &plan.AuditMode{}}
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	Start(context.Background(), c, Options{JoinNetNS: "/nonexistent/netns"}) // warm up lazily opened descriptors
	before := count()
	for i := 0; i < 3; i++ {
		if _, err := Start(context.Background(), c, Options{JoinNetNS: "/nonexistent/netns"}); err == nil {
			t.Fatal("a start joining a missing namespace succeeded")
		}
	}
	if after := count(); after != before {
		t.Errorf("descriptors: %d before three failed starts, %d after", before, after)
	}
}
