package supervisor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy/plan"
)

// TestDeniedName: a network denial to an address the resolver answered the component
// names the DNS name while the answer is pinned; not another component's, not after it
// expired, not a peer's.
func TestDeniedName(t *testing.T) {
	ip := netip.MustParseAddr
	web := &component{plan: &plan.Component{Name: "web", Net: plan.ComponentNet{Address: "10.88.0.2"}}}
	api := &component{plan: &plan.Component{Name: "api", Net: plan.ComponentNet{Address: "10.88.0.3"}}}
	s := &Supervisor{byName: map[string]*component{"web": web, "api": api}, answers: NewDNSAnswers()}
	s.answers.add(ip("10.88.0.2"), "svc.example.test", []netip.Addr{ip("198.51.100.7")}, time.Now().Add(time.Minute))
	s.answers.add(ip("10.88.0.2"), "old.example.test", []netip.Addr{ip("198.51.100.8")}, time.Now().Add(-time.Second))
	d := func(dst string) map[string]any {
		return map[string]any{audit.DetailLayer: audit.LayerNetwork, "dst": dst}
	}
	peer := map[string]any{audit.DetailLayer: audit.LayerNetwork, "dst": "198.51.100.7", "peer": "api"}
	s.answers.Annotate(ip("10.88.0.2"), peer)
	if peer["name"] != nil {
		t.Errorf("a record naming a peer also got name %v", peer["name"])
	}
	for _, tc := range []struct {
		comp, dst, want string
	}{
		{"web", "198.51.100.7", "svc.example.test"},
		{"web", "::ffff:198.51.100.7", "svc.example.test"},
		{"api", "198.51.100.7", ""},
		{"web", "198.51.100.8", ""},
		{"web", "192.0.2.1", ""},
	} {
		got := d(tc.dst)
		s.answers.Annotate(netip.MustParseAddr(s.byName[tc.comp].plan.Net.Address), got)
		if got["name"] != nil && got["name"] != tc.want || got["name"] == nil && tc.want != "" {
			t.Errorf("%s to %s: name %v, want %q", tc.comp, tc.dst, got["name"], tc.want)
		}
	}
}
