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
	s := &Supervisor{byName: map[string]*component{"web": web, "api": api}, answers: newDNSAnswers()}
	s.answers.add(ip("10.88.0.2"), "svc.example.test", []netip.Addr{ip("198.51.100.7")}, time.Now().Add(time.Minute))
	s.answers.add(ip("10.88.0.2"), "old.example.test", []netip.Addr{ip("198.51.100.8")}, time.Now().Add(-time.Second))
	d := func(dst string) map[string]any {
		return map[string]any{audit.DetailLayer: audit.LayerNetwork, "dst": dst}
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
		if got := s.answeredName(tc.comp, d(tc.dst)); got != tc.want {
			t.Errorf("%s to %s: name %q, want %q", tc.comp, tc.dst, got, tc.want)
		}
	}
}
