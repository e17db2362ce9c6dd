package policy

import (
	"testing"
	"testing/fstest"
)

// The string and mapping forms of filesystem entries mix; write paths are idmapped unless
// they say otherwise, read paths only when they say so, and a profile's entries merge.
func TestCompileIdmapEntries(t *testing.T) {
	src := `version: 1
name: svc
run: {command: [/usr/bin/svc], groups: [ssl-cert, "50"]}
filesystem:
  read: [/usr, {path: /etc/ssl/private, idmap: true}, {path: /etc/ssl/certs}]
  write: [/var/lib/svc, {path: /srv/shared, idmap: false}]
syscalls: {extends: default}
`
	s, err := Open(fstest.MapFS{"svc.yaml": {Data: []byte(src)}}, "svc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Components[0]
	want := map[string]bool{"/usr": false, "/etc/ssl/private": true, "/etc/ssl/certs": false, "/var/lib/svc": true, "/srv/shared": false}
	for _, m := range c.Mounts {
		if w, ok := want[m.Target]; ok {
			if m.Idmap != w {
				t.Errorf("%s (%s): idmap %v, want %v", m.Target, m.Why, m.Idmap, w)
			}
			delete(want, m.Target)
		}
	}
	if len(want) > 0 {
		t.Errorf("no mounts for %v", want)
	}
	if g := c.Process.Groups; len(g) != 2 || g[0] != "ssl-cert" || g[1] != "50" {
		t.Errorf("groups %v", g)
	}
	if len(c.UIDMap) != 1 || c.UIDMap[0].ContainerID != 0 || c.UIDMap[0].Size != 65536 {
		t.Errorf("uid map %+v, want all 65536 ids from 0", c.UIDMap)
	}
	if len(c.Sysctls) != 1 || c.Sysctls[0].Key != "net.ipv4.ip_unprivileged_port_start" || c.Sysctls[0].Value != "0" {
		t.Errorf("sysctls %+v", c.Sysctls)
	}
}
