package sandbox

import (
	"errors"
	"fmt"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// The C stage holds at most stage.MaxMounts read-only binds to remount and detached
// mounts to attach (stage_mounts.c), and past them it would leave a read-only bind
// writable: a Plan with more mounts goes to the Go init.
func TestRenderMountsBounded(t *testing.T) {
	cfg := func(n int) *initConfig {
		c := &initConfig{Root: "/tmp/root"}
		for i := 0; i < n; i++ {
			p := fmt.Sprintf("/usr/share/x%d", i)
			c.Component.Mounts = append(c.Component.Mounts, plan.Mount{Type: "bind", Source: p, Target: p, Options: []string{"ro"}, Why: "filesystem.read"})
		}
		return c
	}
	if err := renderMounts(cfg(10), &stage.Program{}); err != nil {
		t.Errorf("10 read-only binds: %v", err)
	}
	if err := renderMounts(cfg(stage.MaxMounts+1), &stage.Program{}); !errors.Is(err, errGoInit) {
		t.Errorf("%d read-only binds: %v, want the Go init", stage.MaxMounts+1, err)
	}
}
