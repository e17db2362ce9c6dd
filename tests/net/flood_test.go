//go:build linux

package net_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestDropLogLimit: a component sends to 400 undeclared addresses in a row (198.18.0.0/15,
// dropped by its own firewall: nothing leaves). Every one is
// dropped; the audit log holds at most the log limit's worth of their denials, and,
// once the component stops, denial.suppressed records that account for the rest; the
// supervisor answers all along, and the declared address still connects.
func TestDropLogLimit(t *testing.T) {
	const flood = 400
	w := newWorld(t, "203.0.113.10")
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	dir := t.TempDir()
	flooding := fmt.Sprintf("sendmany:%d/198.18.0.1:53", flood)
	component(t, dir, "flood", "network:\n  connect:\n    - to: 203.0.113.10:80/tcp",
		flooding, "dial:tcp/203.0.113.10:80", "sleep:")
	stack := testenv.StackName("net-flood")
	w.upStack(dir, stack, "10.88.7.0/24", []string{"flood"}, "")
	res := w.results(stack, "flood", "dial:tcp/203.0.113.10:80")
	if r := res[flooding]; !r.OK || r.Out != fmt.Sprint(flood) {
		t.Fatalf("%s: %+v, want all %d dropped", flooding, r, flood)
	}
	if r := res["dial:tcp/203.0.113.10:80"]; !r.OK {
		t.Errorf("the declared address after the flood: %+v", r)
	}
	if out := w.confine("ps", stack); !strings.Contains(out, "flood") {
		t.Errorf("ps after the flood: %q", out)
	}
	w.confine("stop", "--grace", "1s", stack, "flood")
	log := filepath.Join(dir, "audit.log")
	var logged, suppressed int
	var first, last time.Time
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		logged, suppressed = 0, 0
		for _, r := range records {
			switch {
			case r.Kind == audit.KindDenial && strings.HasPrefix(fmt.Sprint(r.Details["dst"]), "198.18."):
				if logged == 0 {
					first = r.Time
				}
				logged, last = logged+1, r.Time
			case r.Kind == supervisor.EventSuppressed && r.Component == "flood" && r.Details["chain"] == "egress":
				suppressed += int(r.Details["suppressed"].(float64))
			}
		}
		if logged+suppressed >= flood || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// the limit's burst, and its rate over the time the denials span, a second's slack
	limit := netfilter.LogBurst + netfilter.LogRate*(int(last.Sub(first).Seconds())+1)
	t.Logf("%d denials logged over %v, %d suppressed", logged, last.Sub(first), suppressed)
	if testing.Verbose() {
		records, _ := audit.ReadLog(log)
		for i, r := range records {
			if i < 8 || i > len(records)-5 {
				t.Logf("%s %s %v", r.Kind, r.Component, r.Details)
			}
		}
	}
	if logged == 0 || logged > limit {
		t.Errorf("%d denials of the flood logged, want 1 to %d", logged, limit)
	}
	if logged+suppressed < flood {
		t.Errorf("%d logged and %d suppressed, want the %d dropped accounted for", logged, suppressed, flood)
	}
}
