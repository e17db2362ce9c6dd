package export

import (
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestNamedUserAndHealthFlow: a run.user name stays a name in a systemd unit, is left to
// the image in Kubernetes (a finding says so) and refuses an OCI bundle, which would run
// it as 0; the flow that admits a TCP health check from the bridge is the readinessProbe
// in Kubernetes, not a published port.
func TestNamedUserAndHealthFlow(t *testing.T) {
	p := loadPlan(t, "shop.plan.json")
	api := component(p, "api")
	api.Process.User, api.Process.UID, api.Process.GID = "redis", 0, 0
	api.Supervise.Health = &plan.HealthCheck{Port: 9000, IntervalMS: 2000, TimeoutMS: 1000, Retries: 3}
	api.Net.Firewall.Flows = append(api.Net.Firewall.Flows, plan.Flow{Set: "ingress", Src: p.Network.BridgeAddress + "/32",
		Dst: api.Net.Address + "/32", Proto: "tcp", First: 9000, Last: 9000, Why: "api.yaml:5:17 run.health.tcp 9000: " + plan.HealthWhy})

	r, err := Export(p, "k8s", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasFinding(r, "run.user") {
		t.Errorf("k8s: no finding for the named user: %+v", r.Findings)
	}
	for _, f := range r.Findings {
		if strings.Contains(f.Message, "run.health.tcp") {
			t.Errorf("k8s: the health check's flow taken for something else: %+v", f)
		}
	}
	for _, f := range r.Files {
		if strings.Contains(f.Path, "api") && strings.Contains(string(f.Data), "runAsUser: 0") {
			t.Errorf("k8s: %s runs the named user as 0", f.Path)
		}
	}

	r, err = Export(p, "systemd", Options{})
	if err != nil {
		t.Fatal(err)
	}
	unit := ""
	for _, f := range r.Files {
		if strings.Contains(f.Path, "api") {
			unit += string(f.Data)
		}
	}
	if !strings.Contains(unit, "User=redis\n") || strings.Contains(unit, "Group=0") {
		t.Errorf("systemd: the unit does not run as redis:\n%s", unit)
	}

	if _, err := Export(p, "oci", Options{}); err == nil || !strings.Contains(err.Error(), "run.user names user redis") {
		t.Errorf("oci: %v, want a refusal naming the user", err)
	}
}
