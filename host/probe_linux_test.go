package host

import (
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestProbe reads this kernel. Under CI=true the machine must offer everything confine
// uses (DESIGN.md: Linux 6.18, Landlock ABI 7, v1 hybrid cgroups, nftables).
func TestProbe(t *testing.T) {
	f := Probe()
	t.Logf("%+v", f)
	if !testenv.InCI() {
		return
	}
	if f.LandlockABI < 6 {
		t.Errorf("Landlock ABI %d, want at least 6", f.LandlockABI)
	}
	for _, c := range wanted {
		if !f.HasController(c) {
			t.Errorf("cgroup controller %s missing (mode %q, have %v)", c, f.CgroupMode, f.Controllers)
		}
	}
	if !f.Nftables || !f.UserNamespaces || !f.HasSeccompAction("kill_process") || !f.HasSeccompAction("errno") {
		t.Errorf("missing a mechanism: %+v", f)
	}
}
