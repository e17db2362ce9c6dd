package supervisor

import (
	"os"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestComponentOfEndedRun: a kernel record read after a run ended (a seccomp
// kill_process, a crash) still names the component whose process it was.
func TestComponentOfEndedRun(t *testing.T) {
	s := &Supervisor{plan: &plan.Plan{Name: "shop"}}
	api := newComponent(s, &plan.Component{Name: "api"}, 0, nil)
	db := newComponent(s, &plan.Component{Name: "db"}, 1, nil)
	s.comps = []*component{api, db}
	db.pastPids = []int{1 << 30} // above pid_max: no cgroup lookup can answer for it
	if got := s.componentOf(1 << 30); got != "db" {
		t.Errorf("componentOf(an ended run's pid) = %q, want db", got)
	}
	if got := s.componentOf(os.Getpid()); got != "" {
		t.Errorf("componentOf(the test's own pid) = %q, want none", got)
	}
	if got := s.componentOf(0); got != "" {
		t.Errorf("componentOf(0) = %q, want none", got)
	}
}
