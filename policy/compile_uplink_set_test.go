package policy

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestUplinkHostFlowsInStackSet: every flow the uplink adds to the stack's flows set
// after the load (netfilter's applyBridgeNAT: a connect to host:PORT) is in that set
// already, so the set is never one left out as empty (netfilter.hasFlows).
func TestUplinkHostFlowsInStackSet(t *testing.T) {
	fsys := fstest.MapFS{
		"stack.yaml": {Data: []byte("version: 1\nname: s\nsubnet: 10.89.0.0/24\ncomponents: [a.yaml]\n")},
		"a.yaml": {Data: []byte("version: 1\nname: a\nrun: {command: [/true], rootfs: /tmp/rootfs}\n" +
			"filesystem: {read: [/true]}\nsyscalls: {extends: default}\nnetwork:\n  connect:\n    - to: host:5432/tcp\n")},
	}
	s, err := Open(fsys, "stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Network.Uplink == nil || len(p.Network.Uplink.Host) != 1 {
		t.Fatalf("uplink %+v, want the one host flow", p.Network.Uplink)
	}
	set := p.Network.Firewall.Chains[0].FlowsSet
	for _, f := range p.Network.Uplink.Host {
		if !slices.ContainsFunc(p.Network.Firewall.Flows, func(g plan.Flow) bool {
			return g.Set == set && g.Src == f.Src && g.Dst == f.Dst && g.Proto == f.Proto && g.First == f.First && g.Last == f.Last
		}) {
			t.Errorf("host flow %+v is not in the stack's set %s: %+v", f, set, p.Network.Firewall.Flows)
		}
	}
}
