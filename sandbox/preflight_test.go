package sandbox

import (
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/host"
	"github.com/confine-sandbox/confine/policy/plan"
)

var full = host.Facts{
	Root: true, LandlockABI: 7, CgroupMode: "v2", Controllers: []string{"cpu", "memory", "pids"},
	Nftables: true, UserNamespaces: true, SeccompActions: []string{"kill_process", "errno", "log", "allow"},
}

func component(bestEffort ...string) *plan.Plan {
	return &plan.Plan{Components: []plan.Component{{
		Name:       "api",
		Seccomp:    plan.Seccomp{DefaultAction: "errno"},
		Cgroup:     plan.Cgroup{MemoryMax: 1 << 28, PidsMax: 64},
		BestEffort: bestEffort,
		Requires: []plan.Requirement{
			{Mechanism: "cgroups", Why: "resources"},
			{Mechanism: "landlock", MinABI: 1, Why: "filesystem rules"},
			{Mechanism: "landlock", MinABI: 4, Why: "TCP bind and connect rules"},
			{Mechanism: "nftables", Why: "firewall"},
			{Mechanism: "seccomp", Why: "filter"},
			{Mechanism: "userns", Why: "user namespace"},
		},
	}}}
}

func TestPreflightFullHost(t *testing.T) {
	findings, err := Preflight(component(), full)
	if err != nil || len(findings) != 0 {
		t.Fatalf("full host: findings %v, error %v", findings, err)
	}
}

func TestPreflightFailsClosed(t *testing.T) {
	cases := []struct {
		name   string
		change func(*host.Facts)
		want   string
	}{
		{"old landlock", func(f *host.Facts) { f.LandlockABI = 3 }, "api: landlock: kernel ABI 3, policy needs 4 (TCP bind and connect rules); list landlock under best_effort to run without it"},
		{"no landlock", func(f *host.Facts) { f.LandlockABI = 0 }, "api: landlock: kernel ABI 0, policy needs 1 (filesystem rules)"},
		{"hybrid without memory", func(f *host.Facts) { f.CgroupMode, f.Controllers = "hybrid", []string{"cpu"} }, `api: cgroups: no memory, pids controller (cgroup mode "hybrid") for resources; list cgroups under best_effort`},
		{"not root", func(f *host.Facts) { f.Root, f.OwnCgroup = false, "/user.slice/y.scope" }, "api: cgroups: without root confine makes no cgroups: this process's cgroup v2 /user.slice/y.scope is not delegated to it (a systemd unit with Delegate=yes is), and confine does not use a delegated subtree yet for resources; run as root, or list cgroups under best_effort to run with rlimits in their place"},
		{"not root, hybrid", func(f *host.Facts) { f.Root, f.CgroupMode = false, "hybrid" }, `api: cgroups: without root confine makes no cgroups, and this host's cgroups (mode "hybrid") cannot be delegated to a user: that needs cgroup v2 for resources; run as root, or list`},
		{"not root, delegated", func(f *host.Facts) { f.Root, f.OwnCgroup, f.CgroupDelegated = false, "/user.slice/x.scope", true }, "api: cgroups: without root confine makes no cgroups: this process's cgroup v2 /user.slice/x.scope is delegated, but confine does not use a delegated subtree yet for resources;"},
		{"no nftables", func(f *host.Facts) { f.Nftables = false }, "api: nftables: the kernel has no nftables"},
		{"no userns", func(f *host.Facts) { f.UserNamespaces = false }, "api: userns: user namespaces are disabled"},
		{"no seccomp errno", func(f *host.Facts) { f.SeccompActions = []string{"allow"} }, "api: seccomp: the kernel lacks the seccomp action errno"},
	}
	for _, tc := range cases {
		f := full
		tc.change(&f)
		_, err := Preflight(component(), f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPreflightBestEffortBecomesFinding(t *testing.T) {
	f := full
	f.LandlockABI = 3
	findings, err := Preflight(component("landlock"), f)
	if err != nil {
		t.Fatalf("best_effort landlock still refused: %v", err)
	}
	if len(findings) != 1 || findings[0].Mechanism != "landlock" || !strings.Contains(findings[0].Detail, "best_effort") {
		t.Fatalf("findings %v", findings)
	}
	// userns and seccomp cannot be best effort.
	f.UserNamespaces = false
	if _, err := Preflight(component("landlock"), f); err == nil || strings.Contains(err.Error(), "list userns") {
		t.Fatalf("userns: %v", err)
	}
}

// TestPreflightCgroupsFallback: without root, best_effort cgroups is a finding that
// names the rlimits standing in, and the cpu limit they cannot.
func TestPreflightCgroupsFallback(t *testing.T) {
	f := full
	f.Root = false
	p := component("cgroups")
	p.Components[0].Cgroup.CPUQuota = 50000
	findings, err := Preflight(p, f)
	if err != nil {
		t.Fatalf("best_effort cgroups still refused: %v", err)
	}
	want := "rlimits stand in: RLIMIT_NPROC 64, RLIMIT_DATA 268435456 bytes"
	if len(findings) != 1 || !strings.Contains(findings[0].Detail, want) || !strings.Contains(findings[0].Detail, "the cpu limit has no rlimit") {
		t.Fatalf("findings %v, want one saying %q and the cpu limit", findings, want)
	}
}
