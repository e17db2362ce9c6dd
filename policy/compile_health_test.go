package policy

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
)

func healthStack(t *testing.T, body, publish string) *plan.Plan {
	t.Helper()
	fsys := fstest.MapFS{
		"svc.yaml":   {Data: []byte("version: 1\nname: svc\nrun:\n  command: [/bin/app]\n  health: {tcp: 7000}\nfilesystem: {read: [/bin]}\nsyscalls: {extends: default}\n" + body)},
		"stack.yaml": {Data: []byte("version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [svc.yaml]\n" + publish)},
	}
	s, err := Open(fsys, "stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bridgeIngress is what the component's firewall admits from the bridge address.
func bridgeIngress(p *plan.Plan) []plan.Flow {
	var out []plan.Flow
	for _, f := range p.Components[0].Net.Firewall.Flows {
		if f.Set == "ingress" && f.Src == p.Network.BridgeAddress+"/32" {
			out = append(out, f)
		}
	}
	return out
}

// TestHealthFlow: a TCP health check in a stack is admitted from the bridge address to
// its port only, with the declaration as its reason; another listener of the component
// gets nothing from the bridge; a publish of the same port admits it once.
func TestHealthFlow(t *testing.T) {
	p := healthStack(t, "network:\n  listen: [{port: 7000/tcp, from: [host]}, {port: 7001/tcp, from: [host]}]\n", "")
	got := bridgeIngress(p)
	if len(got) != 1 || got[0].Dst != "10.1.0.2/32" || got[0].Proto != "tcp" || got[0].First != 7000 || got[0].Last != 7000 {
		t.Fatalf("flows from the bridge %+v, want one: to 10.1.0.2/32, 7000/tcp only", got)
	}
	if want := "svc.yaml:5:17 run.health.tcp 7000: " + plan.HealthWhy; got[0].Why != want {
		t.Errorf("why %q, want %q", got[0].Why, want)
	}
	for _, f := range p.Network.Firewall.Flows {
		if f.First == 7000 {
			t.Errorf("the bridge's forward firewall got %+v: the check is dialled from the bridge, not forwarded", f)
		}
	}

	p = healthStack(t, "network:\n  listen: [{port: 7000/tcp, from: [host]}]\n", "publish: [\"127.0.0.1:8000 -> svc:7000/tcp\"]\n")
	if got := bridgeIngress(p); len(got) != 1 || !strings.Contains(got[0].Why, "publish[0]") {
		t.Errorf("a published health port: flows from the bridge %+v, want the publish flow alone", got)
	}

}
