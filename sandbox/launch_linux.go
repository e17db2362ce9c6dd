package sandbox

import (
	"context"

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
		name := opts.CgroupName
		if name == "" {
			name = c.Name
		}
		cg, err := NewCgroup(name, sb.Pid(), c.Cgroup, opts.Freezer)
		if err != nil {
			sb.Kill()
			return nil, &StepError{Step: "cgroups", Err: err.Error()}
		}
		sb.cgroup = cg
	}
	if opts.Attach != nil {
		if err := opts.Attach(sb); err != nil {
			// The init stage may have failed first, taking its namespace with it: its
			// own error says more.
			ierr := sb.initFailure()
			sb.Kill()
			if ierr != nil {
				return nil, ierr
			}
			return nil, &StepError{Step: "network", Err: err.Error()}
		}
	}
	if err := sb.Go(); err != nil {
		sb.Kill()
		return nil, err
	}
	return sb, nil
}
