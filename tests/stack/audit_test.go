//go:build linux

package stack_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestAuditDenials: a component breaks its policy on purpose (a forbidden connect, two
// forbidden syscalls, a forbidden file write), and each denial reaches the audit log,
// attributed to what decided it, and then the report; the log's chain verifies.
func TestAuditDenials(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	stack := testenv.StackName("auditing")
	dir := t.TempDir()
	log := filepath.Join(dir, "audit", "audit.log")
	// Addresses: bridge .1, rogue .2, db .3.
	component(t, dir, "rogue", "network:\n  connect: [{to: \"db:5432/tcp\"}]\nsyscalls: {extends: default, deny: [ptrace]}",
		"dial:tcp/db:5432",          // declared
		"dial:tcp/10.79.0.3:6379",   // a port rogue never declared: Landlock refuses the connect
		"ptrace:",                   // denied by rogue's own rule
		"mount:/tmp",                // never allowed: the default denies it
		"write:/dev/confine-escape", // /dev grants write_file on its devices, never make_reg
		"sleep:")
	component(t, dir, "db", "network:\n  listen: [{port: 5432/tcp, from: [rogue]}]",
		"serve:tcp/5432", "dial:tcp/10.79.0.2:5432", "sleep:")
	// hog outgrows its memory limit: the OOM killer ends it, and the log says so.
	component(t, dir, "hog", "resources: {memory: 32Mi}", "alloc:256")
	upStack(t, dir, stack, "10.79.0.0/24", []string{"rogue", "db", "hog"}, "", "--audit-log", log)
	res := results(t, stack, "rogue", "write:/dev/confine-escape")
	for probe, ok := range map[string]bool{"dial:tcp/db:5432": true, "dial:tcp/10.79.0.3:6379": false, "ptrace:": false, "mount:/tmp": false, "write:/dev/confine-escape": false} {
		if res[probe].OK != ok {
			t.Errorf("rogue %s: %+v, want ok=%v", probe, res[probe], ok)
		}
	}
	results(t, stack, "db", "dial:tcp/10.79.0.2:5432")

	// Each denial, by layer and what decided it.
	want := []struct{ component, layer, decidedBy, reason string }{
		{"rogue", audit.LayerLandlock, "default", "rogue connects to port 6379/tcp, which no network.connect or network.listen names"},
		{"rogue", audit.LayerSeccomp, "rule", "rogue calls ptrace, which syscalls.deny[0] ("},
		{"rogue", audit.LayerSeccomp, "default", "rogue calls mount, which syscalls.allow does not name (on_violation errno)"},
		{"rogue", audit.LayerLandlock, "default", "rogue needs make_reg on /dev, but the nearest grant, /dev (built-in"},
		{"db", audit.LayerNetwork, "default", "db connects to rogue:5432/tcp, but db's network.connect does not name rogue:5432/tcp"},
	}
	var records []audit.Record
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		records, err = audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		if missing := missingDenials(records, want); len(missing) == 0 && oomKilled(records, "hog") {
			break
		} else if time.Now().After(deadline) {
			for _, r := range records {
				if r.Kind == audit.KindDenial {
					t.Logf("%s %v", r.Component, r.Details)
				}
			}
			t.Fatalf("denials missing from the log: %v; hog's exit with oom_killed logged: %v", missing, oomKilled(records, "hog"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	kinds := map[string]bool{}
	for _, r := range records {
		kinds[r.Kind] = true
	}
	for _, k := range []string{audit.KindOpen, audit.KindPolicy, audit.KindStart} {
		if !kinds[k] {
			t.Errorf("no %s record in the log", k)
		}
	}
	if out, err := exec.Command(bin, "audit", "verify", log).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}

	// The report shows the same denials.
	out, err := exec.Command(bin, "audit", "report", filepath.Join(dir, "stack.yaml"), "--log", log, "--format", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("audit report: %v\n%s", err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w.reason) {
			t.Errorf("the report lacks %q", w.reason)
		}
	}

	// After down the log is closed and still verifies.
	confine(t, "down", "--grace", "1s", stack)
	out, err = exec.Command(bin, "audit", "verify", "--json", log).CombinedOutput()
	var v struct{ Closed bool }
	if err != nil || json.Unmarshal(out, &v) != nil || !v.Closed {
		t.Errorf("audit verify after down: %v\n%s", err, out)
	}
}

func missingDenials(records []audit.Record, want []struct{ component, layer, decidedBy, reason string }) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, r := range records {
			reason, _ := r.Details[audit.DetailReason].(string)
			if r.Kind == audit.KindDenial && r.Component == w.component && r.Details[audit.DetailLayer] == w.layer &&
				r.Details[audit.DetailDecidedBy] == w.decidedBy && strings.Contains(reason, w.reason) {
				found = true
			}
		}
		if !found {
			missing = append(missing, w.component+" "+w.layer+": "+w.reason)
		}
	}
	return missing
}

// oomKilled reports whether the log has an exit of component that the OOM killer caused.
func oomKilled(records []audit.Record, component string) bool {
	for _, r := range records {
		if r.Kind == audit.KindExit && r.Component == component && r.Details["oom_killed"] == true {
			return true
		}
	}
	return false
}
