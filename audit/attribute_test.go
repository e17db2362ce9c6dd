package audit

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

func shopPlan(t testing.TB) *plan.Plan {
	t.Helper()
	b, err := os.ReadFile("../policy/testdata/shop.plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func TestAttribute(t *testing.T) {
	a := NewAttributor(shopPlan(t))
	ip := netip.MustParseAddr
	frontend, api, db := ip("10.88.0.2"), ip("10.88.0.3"), ip("10.88.0.4")
	for _, tc := range []struct {
		name      string
		got       map[string]any
		decidedBy string
		rule      string // prefix of the rule, when decided by one
		reason    string // substring
	}{
		{"explicit deny", a.Seccomp("api", "ptrace", "errno"), "rule", "shop/api.yaml:23:10 syscalls.deny[0] ptrace", "which syscalls.deny[0] (shop/api.yaml:23:10) denies"},
		{"profile deny", a.Seccomp("api", "clone3", "errno"), "rule", "profiles/default.yaml:", "denies"},
		{"argument denies", a.Seccomp("api", "socket", "errno"), "rule", "profiles/", "api calls socket with arguments that one of 4 rules denies: syscalls.deny[0] (profiles/service.yaml:21:7), syscalls.deny[1] (profiles/service.yaml:26:7), syscalls.deny[2] (profiles/service.yaml:30:7), syscalls.deny[1] (profiles/default.yaml:188:7)"},
		{"logged only", a.Seccomp("api", "mount", "log"), "default", "", "on_violation log let it through and logged it"},
		{"not allowed", a.Seccomp("api", "mount", "errno"), "default", "", "api calls mount, which syscalls.allow does not name (on_violation errno)"},
		{"write under read", a.Landlock("api", []string{"fs.write_file"}, "/app/config", 0), "default", "", "the nearest grant, filesystem.read[0] (shop/api.yaml:11:10) /app, gives only execute, read_dir, read_file"},
		{"write nowhere", a.Landlock("api", []string{"fs.make_reg"}, "/etc/passwd", 0), "default", "", "which no filesystem declaration names"},
		{"connect port", a.Landlock("api", []string{"net.connect_tcp"}, "", 6379), "default", "", "api connects to port 6379/tcp"},
		{"bind any port", a.Landlock("api", []string{"net.bind_tcp"}, "", 0), "default", "", "api binds a TCP socket to port 0 (any free port)"},
		{"bind port", a.Landlock("api", []string{"net.bind_tcp"}, "", 22), "default", "", "api binds 22/tcp, which network.listen does not name"},
		{"egress undeclared", a.Network("frontend", "egress", "tcp", frontend, db, 5432), "default", "", "frontend connects to db:5432/tcp, but frontend's network.connect does not name db:5432/tcp, nor does db's listen.from name frontend"},
		{"egress no listener", a.Network("api", "egress", "tcp", api, db, 22), "default", "", "db does not listen on 22/tcp"},
		{"ingress not from", a.Network("db", "ingress", "tcp", frontend, db, 5432), "default", "", "db's listen.from does not name frontend"},
		{"ingress no listen", a.Network("db", "ingress", "udp", api, db, 53), "default", "", "api sends udp to db:53/udp, but db's network.listen does not name 53/udp"},
		{"outside", a.Network("api", "egress", "tcp", api, ip("192.0.2.7"), 443), "default", "", "api's network.connect does not name 192.0.2.7:443/tcp"},
		{"host side", a.Network("api", "egress", "tcp", api, ip("10.88.0.1"), 80), "default", "", "does not name host:80/tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.got[DetailDecidedBy]; got != tc.decidedBy {
				t.Errorf("decided_by = %v, want %s (%v)", got, tc.decidedBy, tc.got)
			}
			if rule, _ := tc.got[DetailRule].(string); !strings.HasPrefix(rule, tc.rule) || (tc.rule == "") != (rule == "") {
				t.Errorf("rule = %q, want prefix %q", rule, tc.rule)
			}
			if reason, _ := tc.got[DetailReason].(string); !strings.Contains(reason, tc.reason) {
				t.Errorf("reason = %q\nwant it to contain %q", reason, tc.reason)
			}
			for _, k := range []string{DetailLayer, DetailWhat} {
				if tc.got[k] == "" || tc.got[k] == nil {
					t.Errorf("%s missing: %v", k, tc.got)
				}
			}
		})
	}
}

// TestNetworkPeer: a network denial to a component's address names it as peer, to the
// bridge as host; one to an outside address or to the component itself names none.
func TestNetworkPeer(t *testing.T) {
	a := NewAttributor(shopPlan(t))
	ip := netip.MustParseAddr
	frontend, api, db := ip("10.88.0.2"), ip("10.88.0.3"), ip("10.88.0.4")
	for _, tc := range []struct {
		d    map[string]any
		peer any
	}{
		{a.Network("api", "egress", "tcp", api, db, 22), "db"},
		{a.Network("api", "egress", "tcp", api, ip("10.88.0.1"), 80), "host"},
		{a.Network("api", "egress", "tcp", api, ip("192.0.2.7"), 443), nil},
		{a.Network("db", "ingress", "tcp", frontend, db, 5432), nil},
	} {
		if tc.d["peer"] != tc.peer {
			t.Errorf("%v: peer %v, want %v", tc.d[DetailWhat], tc.d["peer"], tc.peer)
		}
	}
	if got := a.Peer("frontend", "::ffff:10.88.0.3"); got != "api" {
		t.Errorf("a v4-mapped peer address: %q, want api", got)
	}
}
