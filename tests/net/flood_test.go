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

// The flood: datagrams to one undeclared address and port, A (198.18.0.1:53, dropped
// by the firewall: nothing leaves), with a few to another, B, in the middle of it.
const (
	floodA, floodB = "198.18.0.1:53", "198.19.0.7:4444"
	flood1, flood2 = 400, 401 // the two halves: their probes' names differ
	floodTotal     = flood1 + 3 + flood2
)

var floodProbes = []string{fmt.Sprintf("sendto:%d/%s", flood1, floodA), "sendto:3/" + floodB, fmt.Sprintf("sendto:%d/%s", flood2, floodA)}

// TestDropLogLimit: a component floods A, with a few datagrams to B in between. Every
// one is dropped; the audit log holds at most the log limit's worth of A's denials (and
// the first, its key's own) yet a denial for B, the limit long used up by then; once
// the component stops, denial.suppressed records account for the rest; the supervisor
// answers all along, and the declared address still connects.
func TestDropLogLimit(t *testing.T) {
	w := newWorld(t, "203.0.113.10")
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	dir := t.TempDir()
	component(t, dir, "flood", "network:\n  connect:\n    - to: 203.0.113.10:80/tcp",
		append(floodProbes, "dial:tcp/203.0.113.10:80", "sleep:")...)
	stack := testenv.StackName("net-flood")
	w.upStack(dir, stack, "10.88.7.0/24", []string{"flood"}, "")
	res := w.results(stack, "flood", "dial:tcp/203.0.113.10:80")
	for i, n := range []int{flood1, 3, flood2} {
		if r := res[floodProbes[i]]; !r.OK || r.Out != fmt.Sprint(n, 0) {
			t.Fatalf("%s: %+v, want all %d dropped", floodProbes[i], r, n)
		}
	}
	if r := res["dial:tcp/203.0.113.10:80"]; !r.OK {
		t.Errorf("the declared address after the flood: %+v", r)
	}
	if out := w.confine("ps", stack); !strings.Contains(out, "flood") {
		t.Errorf("ps after the flood: %q", out)
	}
	w.confine("stop", "--grace", "1s", stack, "flood")
	checkFloodLog(t, filepath.Join(dir, "audit.log"), "flood", "egress")
}

// TestLoneDropLogLimit: the same flood from a lone run that flushed its own ruleset
// (NET_ADMIN), dropped by the host table: at most the limit's worth of A's denials, one
// for B, and, once the run ends, denial.suppressed records for the rest.
func TestLoneDropLogLimit(t *testing.T) {
	w := newWorld(t, "203.0.113.10")
	dir := t.TempDir()
	component(t, dir, "flood", "capabilities: [NET_ADMIN]\nnetwork:\n  connect:\n    - to: 203.0.113.10:80/tcp",
		append(append([]string{"nftflush:"}, floodProbes...), "sleep:")...)
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "flood.yaml"))
	res := run.results(t, floodProbes[2])
	for i, n := range []int{flood1, 3, flood2} {
		if r := res[floodProbes[i]]; !r.OK || r.Out != fmt.Sprint(0, n) {
			t.Fatalf("%s: %+v, want all %d sent past the flushed ruleset", floodProbes[i], r, n)
		}
	}
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	checkFloodLog(t, log, "flood", "uplink from-run")
}

// checkFloodLog waits until the log accounts for the flood's drops as denials and
// denial.suppressed records of chain, and checks that B has a denial and that A's are
// no more than the log limit lets through, and its key's first.
func checkFloodLog(t *testing.T, log string, component, chain string) {
	t.Helper()
	aAddr, _, _ := strings.Cut(floodA, ":")
	bAddr, bPort, _ := strings.Cut(floodB, ":")
	var logged, named, suppressed int
	var first, last time.Time
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		logged, named, suppressed = 0, 0, 0
		for _, r := range records {
			switch {
			case r.Kind == audit.KindDenial && r.Details["dst"] == aAddr:
				if logged == 0 {
					first = r.Time
				}
				logged, last = logged+1, r.Time
			case r.Kind == audit.KindDenial && r.Details["dst"] == bAddr && fmt.Sprint(r.Details["dport"]) == bPort:
				named++
			case r.Kind == supervisor.EventSuppressed && r.Component == component && r.Details["chain"] == chain:
				suppressed += int(r.Details["suppressed"].(float64))
			}
		}
		if logged+named+suppressed >= floodTotal && named > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// the key's first, the limit's burst, and its rate over the time the denials span,
	// a second's slack
	limit := 1 + netfilter.LogBurst + netfilter.LogRate*(int(last.Sub(first).Seconds())+1)
	t.Logf("%d denials of A logged over %v, %d of B, %d suppressed", logged, last.Sub(first), named, suppressed)
	if logged == 0 || logged > limit {
		t.Errorf("%d denials of A logged, want 1 to %d", logged, limit)
	}
	if named == 0 {
		t.Errorf("no denial names B (%s) though it was tried during the flood", floodB)
	}
	if logged+named+suppressed < floodTotal {
		t.Errorf("%d logged, %d of B and %d suppressed, want the %d dropped accounted for", logged, named, suppressed, floodTotal)
	}
}
