package policy

import (
	"strings"
	"testing"
	"testing/fstest"
)

const egressMember = `version: 1
name: %s
run: {command: [/bin/app]}
filesystem: {read: [/bin]}
syscalls: {extends: default}
%s`

func egressStack(members map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	var files []string
	for name, net := range members {
		fsys[name+".yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(strings.Replace(egressMember, "%s", name, 1), "%s", net, 1))}
		files = append(files, name+".yaml")
	}
	fsys["stack.yaml"] = &fstest.MapFile{Data: []byte("version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [" + strings.Join(files, ", ") + "]\n")}
	return fsys
}

// TestCompileUplink: outside addresses and host:PORT need an uplink; flows between
// components and to the component's own loopback do not.
func TestCompileUplink(t *testing.T) {
	s, err := Open(egressStack(map[string]string{
		"a": "network:\n  connect:\n    - to: 203.0.113.0/24:443/tcp\n    - to: host:9000/tcp\n    - to: 127.0.0.1:5432/tcp\n",
	}), "stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	u := p.Network.Uplink
	if u == nil || len(u.Outside) != 1 || u.Outside[0].Dst != "203.0.113.0/24" || len(u.Host) != 1 || u.Host[0].Dst != "10.1.0.1/32" || u.Host[0].First != 9000 {
		t.Fatalf("uplink %+v, want one outside flow to 203.0.113.0/24 and one host flow to the bridge, port 9000", u)
	}
	if h := p.Components[0].Net.Hosts; len(h) != 1 || h[0].Name != "host" || h[0].Address != "10.1.0.1" {
		t.Errorf("hosts %v, want host at the bridge address", h)
	}

	s, err = Open(egressStack(map[string]string{"a": "network:\n  connect:\n    - to: 127.0.0.1:5432/tcp\n"}), "stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p, err = Compile(s); err != nil || p.Network.Uplink != nil {
		t.Errorf("a stack that stays inside got an uplink: %+v (%v)", p.Network.Uplink, err)
	}
}

// TestHostComponentName: a member may not be called host, the name of the host in flows.
func TestHostComponentName(t *testing.T) {
	got := Check(egressStack(map[string]string{"host": ""}), "stack.yaml").Error()
	if !strings.Contains(got, `host.yaml:2:7: name: "host" names the host in flows`) {
		t.Errorf("got:\n%s", got)
	}
}

func TestDNSNames(t *testing.T) {
	for s, want := range map[string]bool{
		"api.vendor.example": true, "a.b": true, "x-1.example": true,
		"example": false, "Api.example": false, "-a.example": false, "a..b": false, "1.2.3.4": false, "a.123": false,
	} {
		if got := isDNSName(s); got != want {
			t.Errorf("isDNSName(%q) = %v, want %v", s, got, want)
		}
	}
	s, err := Open(egressStack(map[string]string{
		"a": "network:\n  connect:\n    - to: api.vendor.example:443/tcp\n",
	}), "stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Components[0]
	if len(c.Net.Names) != 1 || c.Net.Names[0].Name != "api.vendor.example" || p.Network.Uplink == nil || len(p.Network.Uplink.Names) != 1 || len(p.Network.Uplink.Host) != 0 {
		t.Errorf("names %+v, uplink %+v", c.Net.Names, p.Network.Uplink)
	}
	if c.Net.Firewall.Chains[1].NamesSet != NamesSet || p.Network.Firewall.Chains[0].NamesSet != NamesSet {
		t.Errorf("chains %+v / %+v want a names set", c.Net.Firewall.Chains, p.Network.Firewall.Chains)
	}
	got := Check(egressStack(map[string]string{"a": "network:\n  listen: [{port: 80/tcp, from: [api.vendor.example]}]\n"}), "stack.yaml").Error()
	if !strings.Contains(got, "network.listen[0].from[0]") {
		t.Errorf("a name in listen.from: %s", got)
	}
}

// TestCompileLoneUplink: a lone component's outside addresses and host:PORT need an
// uplink; `host` in connect and listen.from becomes a gateway flow, filled in at run
// time; a component that reaches only its loopback gets none.
func TestCompileLoneUplink(t *testing.T) {
	lone := func(net string) fstest.MapFS {
		return fstest.MapFS{"a.yaml": &fstest.MapFile{Data: []byte(strings.Replace(strings.Replace(egressMember, "%s", "a", 1), "%s", net, 1))}}
	}
	s, err := Open(lone("network:\n  connect:\n    - to: 203.0.113.0/24:443/tcp\n    - to: host:9000/tcp\n    - to: 127.0.0.1:5432/tcp\n  listen:\n    - port: 80/tcp\n      from: [host]\n"), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	u, c := p.Network.Uplink, p.Components[0]
	if u == nil || len(u.Outside) != 1 || u.Outside[0].Dst != "203.0.113.0/24" || len(u.Host) != 1 || u.Host[0].First != 9000 {
		t.Fatalf("uplink %+v, want one outside flow to 203.0.113.0/24 and one host flow, port 9000", u)
	}
	if g := c.Net.Gateway; len(g) != 2 || g[0].Set != "ingress" || g[0].Src != "" || g[0].First != 80 || g[1].Set != "egress" || g[1].Dst != "" || g[1].First != 9000 {
		t.Errorf("gateway flows %+v, want listen 80 from host and connect host:9000", g)
	}
	if len(c.Net.Unresolved) != 0 {
		t.Errorf("unresolved %v: host is the uplink's gateway for a lone run", c.Net.Unresolved)
	}
	if p, err = Compile(mustOpen(t, lone("network:\n  connect:\n    - to: 127.0.0.1:5432/tcp\n"), "a.yaml")); err != nil || p.Network.Uplink != nil {
		t.Errorf("a lone component that stays on its loopback got an uplink: %+v (%v)", p.Network.Uplink, err)
	}
}

func mustOpen(t *testing.T, fsys fstest.MapFS, file string) *Stack {
	t.Helper()
	s, err := Open(fsys, file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
