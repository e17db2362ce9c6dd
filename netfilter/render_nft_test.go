package netfilter

import (
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadPlan reads a golden Plan that policy's tests keep up to date.
func loadPlan(t *testing.T) *plan.Plan {
	t.Helper()
	data, err := os.ReadFile("../policy/testdata/shop.plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestRenderGolden(t *testing.T) {
	p := loadPlan(t)
	rulesets := map[string]plan.Firewall{"testdata/shop-bridge.nft": p.Network.Firewall}
	for _, c := range p.Components {
		rulesets["testdata/shop-"+c.Name+".nft"] = c.Net.Firewall
	}
	for golden, fw := range rulesets {
		got := Render(fw)
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./netfilter -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs; run go test ./netfilter -update and review the diff\n%s", golden, got)
		}
	}
}

// One lookup per chain, whatever the number of flows (DESIGN.md invariant 6).
func TestRenderIsOneLookupPerChain(t *testing.T) {
	fw := loadPlan(t).Network.Firewall
	for i := 0; i < 1000; i++ {
		fw.Flows = append(fw.Flows, plan.Flow{Set: "flows", Src: "10.88.0.2/32", Dst: "10.88.0.3/32", Proto: "udp", First: uint16(1000 + i), Last: uint16(1000 + i)})
	}
	out := Render(fw)
	if n := strings.Count(out, " accept\n"); n > 3 {
		t.Errorf("%d accept rules for 1000 flows; flows belong in the set", n)
	}
	if !strings.Contains(out, "10.88.0.3 . 10.88.0.2 . udp . 1999") {
		t.Error("flow missing from the set")
	}
}

func TestLogChain(t *testing.T) {
	for _, tc := range []struct {
		prefix, chain string
		audit         bool
	}{
		{"confine-drop egress: ", "egress", false},
		{"confine-audit ingress: ", "ingress", true},
		{"confine-drop uplink: ", "uplink", false},
	} {
		if chain, audit := LogChain(tc.prefix); chain != tc.chain || audit != tc.audit {
			t.Errorf("LogChain(%q) = %q, %v", tc.prefix, chain, audit)
		}
	}
}

// Loopback is exempted from conntrack at output when an output chain accepts it, which
// covers its packets both ways; at prerouting only when no output chain does.
func TestUntrackedChains(t *testing.T) {
	in := plan.Chain{Name: "ingress", Hook: "input", AcceptLoopback: true}
	out := plan.Chain{Name: "egress", Hook: "output", AcceptLoopback: true}
	filtered := plan.Chain{Name: "egress", Hook: "output"}
	for _, tc := range []struct {
		chains []plan.Chain
		want   []loopbackRaw
	}{
		{[]plan.Chain{in, out}, []loopbackRaw{{"egress_lo", "output", "oif"}}},
		{[]plan.Chain{in, filtered}, []loopbackRaw{{"ingress_lo", "prerouting", "iif"}}},
		{[]plan.Chain{in}, []loopbackRaw{{"ingress_lo", "prerouting", "iif"}}},
		{[]plan.Chain{{Name: "forward", Hook: "forward"}}, nil},
	} {
		if got := untracked(tc.chains); !slices.Equal(got, tc.want) {
			t.Errorf("untracked(%v) = %v, want %v", tc.chains, got, tc.want)
		}
	}
}
