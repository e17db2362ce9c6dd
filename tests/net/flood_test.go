//go:build linux

package net_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
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
	if r := res[flooding]; !r.OK || r.Out != fmt.Sprint(flood, 0) {
		t.Fatalf("%s: %+v, want all %d dropped", flooding, r, flood)
	}
	if r := res["dial:tcp/203.0.113.10:80"]; !r.OK {
		t.Errorf("the declared address after the flood: %+v", r)
	}
	if out := w.confine("ps", stack); !strings.Contains(out, "flood") {
		t.Errorf("ps after the flood: %q", out)
	}
	w.confine("stop", "--grace", "1s", stack, "flood")
	checkFloodLog(t, filepath.Join(dir, "audit.log"), flood, "flood", "egress")
}

// TestLoneDropLogLimit: the same flood from a lone run that flushed its own ruleset
// (NET_ADMIN), dropped by the host table: at most the limit's worth of its denials,
// and, once the run ends, denial.suppressed records for the rest.
func TestLoneDropLogLimit(t *testing.T) {
	const flood = 400
	w := newWorld(t, "203.0.113.10")
	dir := t.TempDir()
	flooding := fmt.Sprintf("sendmany:%d/198.18.0.1:53", flood)
	component(t, dir, "flood", "capabilities: [NET_ADMIN]\nnetwork:\n  connect:\n    - to: 203.0.113.10:80/tcp",
		"nftflush:", flooding, "sleep:")
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "flood.yaml"))
	res := run.results(t, flooding)
	if r := res[flooding]; !r.OK || r.Out != fmt.Sprint(0, flood) {
		t.Fatalf("%s: %+v, want all %d sent past the flushed ruleset", flooding, r, flood)
	}
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	checkFloodLog(t, log, flood, "flood", "uplink from-run")
}

// checkFloodLog waits until the log accounts for the flood's drops as denials to
// 198.18.0.0/15 and denial.suppressed records of chain, and checks the denials are no
// more than the log limit lets through.
func checkFloodLog(t *testing.T, log string, flood int, component, chain string) {
	t.Helper()
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
			case r.Kind == supervisor.EventSuppressed && r.Component == component && r.Details["chain"] == chain:
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
	if logged == 0 || logged > limit {
		t.Errorf("%d denials of the flood logged, want 1 to %d", logged, limit)
	}
	if logged+suppressed < flood {
		t.Errorf("%d logged and %d suppressed, want the %d dropped accounted for", logged, suppressed, flood)
	}
}
