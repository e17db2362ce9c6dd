package sandbox

import (
	"context"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Launch starts c, puts its cgroup in place while the init stage waits (the init stage
// has loaded the firewall into its own network namespace by then), and then lets it
// finish and exec (DESIGN.md invariant 3). Mechanisms named in skip are the
// best_effort ones Preflight found missing. On any failure everything made so far is
// removed and the error says which step failed.
func Launch(ctx context.Context, c *plan.Component, opts Options, skip map[string]bool) (*Sandbox, error) {
	opts.skipFirewall = skip["nftables"]
	sb, err := Start(ctx, c, opts)
	if err != nil {
		return nil, &StepError{Step: "start", Err: err.Error()}
	}
	if !skip["cgroups"] {
		t := trace.Now()
		cg, err := NewCgroup(c.Name, sb.Pid(), c.Cgroup)
		if err != nil {
			sb.Kill()
			return nil, &StepError{Step: "cgroups", Err: err.Error()}
		}
		sb.cgroup = cg
		trace.Done("parent", "cgroup", t)
	}
	if err := sb.Go(); err != nil {
		sb.Kill()
		return nil, err
	}
	return sb, nil
}
