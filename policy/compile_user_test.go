package policy

import (
	"testing"
	"testing/fstest"
)

// TestCompileUserNames: run.user's names reach the Plan as written, for the sandbox to
// resolve; numbers stay numbers; a named user keeps its capabilities across exec
// (ambient), whatever uid it resolves to.
func TestCompileUserNames(t *testing.T) {
	for _, c := range []struct {
		user, name, group string
		uid, gid          uint32
	}{
		{"redis", "redis", "", 0, 0},
		{"postgres:ssl-cert", "postgres", "ssl-cert", 0, 0},
		{`"1000:ssl-cert"`, "", "ssl-cert", 1000, 0},
		{`"1000"`, "", "", 1000, 1000},
		{`"0:5"`, "", "", 0, 5},
	} {
		fsys := fstest.MapFS{"c.yaml": {Data: []byte("version: 1\nname: c\nrun:\n  command: [/bin/app]\n  user: " + c.user +
			"\nfilesystem: {read: [/bin]}\ncapabilities: [NET_BIND_SERVICE]\nsyscalls: {extends: default}\n")}}
		s, err := Open(fsys, "c.yaml")
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(s)
		if err != nil {
			t.Fatalf("%s: %v", c.user, err)
		}
		pr := p.Components[0].Process
		if pr.User != c.name || pr.Group != c.group || pr.UID != c.uid || pr.GID != c.gid {
			t.Errorf("%s: process %q:%q %d:%d, want %q:%q %d:%d", c.user, pr.User, pr.Group, pr.UID, pr.GID, c.name, c.group, c.uid, c.gid)
		}
		ambient := len(p.Components[0].Capabilities.Ambient) == 1
		if want := c.name != "" || c.uid != 0; ambient != want {
			t.Errorf("%s: ambient capabilities %v, want them: %v", c.user, p.Components[0].Capabilities.Ambient, want)
		}
	}
}
