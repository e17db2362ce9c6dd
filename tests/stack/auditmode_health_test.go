//go:build linux

package stack_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestAuditModeHealthExec: health.exec runs inside an audit-mode component as it does
// inside an enforcing one (sandbox.Exec), under the component's observing filter: the
// check passes, and its write where Landlock would grant only reads is in the log, not
// enforced, as the component's own would be.
func TestAuditModeHealthExec(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	name := uniqueName("hauditx", 0)
	dir := t.TempDir()
	check := strconv.Quote(probe) + `, "write:/proc/self/comm", "exit:0"`
	component(t, dir, "svc", "  health: {exec: ["+check+"], interval: 200ms, timeout: 5s}\nmode: audit", "sleep:")
	upStack(t, dir, name, "10.97.7.0/24", []string{"svc"}, "", "--grace", "100ms")
	if st := status(t, name)["svc"]; st.Health != supervisor.HealthHealthy {
		t.Fatalf("svc after up: %+v", st)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		records, err := audit.ReadLog(filepath.Join(dir, "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			d := r.Details
			if r.Kind == audit.KindDenial && r.Component == "svc" && d["layer"] == "filesystem" && d["path"] == "/proc/self/comm" && d["access"] == "write" {
				if d[audit.DetailEnforced] != false {
					t.Fatalf("an audit-mode denial says enforced: %v", d)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the check's write to /proc/self/comm is not in the log")
		}
	}
}
