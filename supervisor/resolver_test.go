package supervisor

import (
	"net/netip"
	"testing"
)

func TestResolverAllowed(t *testing.T) {
	r := &resolver{allow: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	for a, want := range map[string]bool{
		"93.184.216.34": true, "203.0.113.7": true, // public; allowed by the exception
		"10.1.2.3": false, "192.168.1.1": false, "172.16.0.1": false, "127.0.0.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "224.0.0.1": false,
		"198.51.100.1": false, "255.255.255.255": false,
	} {
		if got := r.allowed(netip.MustParseAddr(a)); got != want {
			t.Errorf("allowed(%s) = %v, want %v", a, got, want)
		}
	}
}
