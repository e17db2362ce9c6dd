//go:build linux

package net_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestPublishNotRouted: the host table's forward chain accepts every established packet
// first, and into the uplink only what confine DNAT'd. A neighbour that routes through
// the host straight to the uplink's peer, on the published port and from an address
// listen.from names (so nothing but the host table stands in the way: the bridge
// namespace would DNAT it on to the component), is dropped and logged; the same client
// through the published port is answered, and keeps its connection.
func TestPublishNotRouted(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	component(t, dir, "web", `network:
  listen:
    - port: 8080/tcp
      from: [host, 198.51.100.2]`, "serveaddr:tcp/8080", "sleep:")
	stack := testenv.StackName("net-pubfwd")
	w.upStack(dir, stack, "10.84.0.0/24", []string{"web"}, "publish: [\"0.0.0.0:8080 -> web:8080/tcp\"]\n")
	if got, err := ask(w.outside, "tcp", "", hostAddr+":8080"); err != nil || !strings.HasPrefix(got, "you are "+outsideAddr+":") {
		t.Fatalf("through the published port: %q (%v)", got, err)
	}
	peer := uplinkPeer(t, w)
	// The outside is the test's own namespace: this route leads only into the host one.
	w.ip("-n", w.outside, "route", "add", peer+"/32", "via", hostAddr)
	if got, err := ask(w.outside, "tcp", "", peer+":8080"); err == nil {
		t.Errorf("routed through the host to the uplink's peer %s:8080: answered %q; it must be dropped", peer, got)
	}
	waitDenials(t, dir+"/audit.log", map[string]func(audit.Record) bool{
		"routed into the stack": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink into-stack" && r.Details["src"] == outsideAddr && r.Details["dst"] == peer
		},
	})
	if got, err := ask(w.outside, "tcp", "", hostAddr+":8080"); err != nil || !strings.HasPrefix(got, "you are "+outsideAddr+":") {
		t.Errorf("through the published port after the routed attempt: %q (%v)", got, err)
	}
}

// uplinkPeer is the bridge namespace's end of the one uplink in the host namespace: the
// address after the gateway's on its /30.
func uplinkPeer(t *testing.T, w *world) string {
	t.Helper()
	for _, line := range strings.Split(w.ip("-n", w.host, "-4", "-o", "addr", "show"), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasPrefix(f[1], "cfu") && f[2] == "inet" {
			if p, err := netip.ParsePrefix(f[3]); err == nil {
				return p.Addr().Next().String()
			}
		}
	}
	t.Fatal("no uplink (cfu*) in the host namespace")
	return ""
}
