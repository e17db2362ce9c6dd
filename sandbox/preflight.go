// Package sandbox applies the process part of a Plan: namespaces, mounts, rlimits,
// no_new_privs, capabilities, Landlock, seccomp and cgroups. This file is its pure first
// step: comparing what a Plan requires with what the host offers, before anything is made.
package sandbox

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/host"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Finding is a mechanism that will not be applied, because the kernel lacks it and the
// policy lists it under best_effort. Reports show findings to reviewers.
type Finding struct {
	Component string `json:"component"`
	Mechanism string `json:"mechanism"`
	Detail    string `json:"detail"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s", f.Component, f.Mechanism, f.Detail)
}

// Preflight compares every component's requirements with the host's facts. A missing
// mechanism the policy does not list under best_effort is an error (fail closed, DESIGN.md
// invariant 1) naming the mechanism and the remedy; one it does list is a Finding.
func Preflight(p *plan.Plan, f host.Facts) ([]Finding, error) {
	var findings []Finding
	var errs []error
	for _, c := range p.Components {
		for _, r := range c.Requires {
			missing := lacks(r, &c, f)
			if missing == "" {
				continue
			}
			if slices.Contains(c.BestEffort, r.Mechanism) {
				note := "running without it (best_effort)"
				if r.Mechanism == "cgroups" {
					note = fallbackNote(c.Cgroup)
				}
				findings = append(findings, Finding{Component: c.Name, Mechanism: r.Mechanism, Detail: missing + "; " + note})
				continue
			}
			hint := ""
			if bestEffortable[r.Mechanism] {
				hint = fmt.Sprintf("; list %s under best_effort to run without it", r.Mechanism)
				if r.Mechanism == "cgroups" {
					hint = "; list cgroups under best_effort to run with rlimits in their place (RLIMIT_NPROC for pids, RLIMIT_DATA for memory, nothing for cpu)"
					if !f.Root {
						hint = "; run as root, or" + strings.TrimPrefix(hint, ";")
					}
				}
			}
			errs = append(errs, fmt.Errorf("%s: %s: %s%s", c.Name, r.Mechanism, missing, hint))
		}
	}
	return findings, errors.Join(errs...)
}

// bestEffortable are the mechanisms a policy may run without (policy.Mechanisms).
var bestEffortable = map[string]bool{"cgroups": true, "landlock": true, "nftables": true}

// lacks says what the host is missing for r, or "" when nothing is.
func lacks(r plan.Requirement, c *plan.Component, f host.Facts) string {
	switch r.Mechanism {
	case "landlock":
		if f.LandlockABI < r.MinABI {
			return fmt.Sprintf("kernel ABI %d, policy needs %d (%s)", f.LandlockABI, r.MinABI, r.Why)
		}
	case "cgroups":
		if !f.Root {
			return rootlessCgroups(f) + " for " + r.Why
		}
		var missing []string
		for _, need := range []struct {
			name string
			set  bool
		}{{"cpu", c.Cgroup.CPUQuota > 0}, {"memory", c.Cgroup.MemoryMax > 0}, {"pids", c.Cgroup.PidsMax > 0}} {
			if need.set && !f.HasController(need.name) {
				missing = append(missing, need.name)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("no %s controller (cgroup mode %q) for %s", strings.Join(missing, ", "), f.CgroupMode, r.Why)
		}
	case "nftables":
		if !f.Nftables {
			return "the kernel has no nftables (nfnetlink did not answer)"
		}
	case "userns":
		if !f.UserNamespaces {
			return "user namespaces are disabled (user.max_user_namespaces is 0)"
		}
	case "seccomp":
		if action := c.Seccomp.DefaultAction; !f.HasSeccompAction(action) || !f.HasSeccompAction("allow") {
			return fmt.Sprintf("the kernel lacks the seccomp action %s (has %s)", action, strings.Join(f.SeccompActions, " "))
		}
	default:
		return fmt.Sprintf("bug: unknown mechanism %q in the Plan", r.Mechanism)
	}
	return ""
}

// rootlessCgroups says why, without root, there are no cgroups: what the host offers
// for delegation, and that confine does not use it yet.
func rootlessCgroups(f host.Facts) string {
	switch {
	case f.CgroupMode != "v2":
		return fmt.Sprintf("without root confine makes no cgroups, and this host's cgroups (mode %q) cannot be delegated to a user: that needs cgroup v2", f.CgroupMode)
	case f.CgroupDelegated:
		return fmt.Sprintf("without root confine makes no cgroups: this process's cgroup v2 %s is delegated, but confine does not use a delegated subtree yet", f.OwnCgroup)
	default:
		return fmt.Sprintf("without root confine makes no cgroups: this process's cgroup v2 %s is not delegated to it (a systemd unit with Delegate=yes is), and confine does not use a delegated subtree yet", f.OwnCgroup)
	}
}
