//go:build linux

package exec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestExecAuditMode: confine exec into a component in mode: audit runs the command
// under the component's observing filter, as health.exec does: a write where the policy
// grants only reads succeeds, and is in the log as the component's denial, not
// enforced, after the exec's own component.exec record.
func TestExecAuditMode(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	dir := t.TempDir()
	name := testenv.StackName("execaudit")
	policy(t, dir, "obs", "mode: audit", "sleep:")
	log := filepath.Join(dir, "audit.log")
	src := fmt.Sprintf("version: 1\nname: %s\nsubnet: 10.121.6.0/24\ncomponents: [obs.yaml]\n", name)
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, bin, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", log)
	t.Cleanup(func() {
		if _, alive := supervisor.Running(name); alive {
			testenv.Run(t, bin, "down", "--grace", "1s", name)
		}
	})
	argv := []string{probe, "write:/proc/self/comm", "exit:7"}
	out, stderr, code := confineExec(t, append([]string{name, "obs", "--"}, argv...)...)
	if code != 7 {
		t.Fatalf("exec into an audit-mode component: exit %d, want the command's 7\n%s%s", code, out, stderr)
	}
	if r := parse(out)["write:/proc/self/comm"]; !r.OK {
		t.Errorf("audit mode enforced the write: %+v", r)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		var execd, observed bool
		for _, r := range records {
			d := r.Details
			switch {
			case r.Kind == supervisor.EventExec && fmt.Sprint(d["command"]) == fmt.Sprint(argv):
				execd = true
			case execd && r.Kind == audit.KindDenial && r.Component == "obs" && d["layer"] == "filesystem" && d["path"] == "/proc/self/comm" && d["access"] == "write":
				if d[audit.DetailEnforced] != false {
					t.Fatalf("an audit-mode denial says enforced: %v", d)
				}
				observed = true
			}
		}
		if observed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exec's write is not in the log after its component.exec record (exec recorded: %v)", execd)
		}
	}
}
