package policy

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
)

// absFS is a MapFS whose files live under /srv/policies, as cmd/confine's host
// filesystem says where a file is.
type absFS struct{ fstest.MapFS }

func (absFS) Abs(name string) (string, error) { return "/srv/policies/" + name, nil }

// Binds go on top of read, write and tmpfs paths, read-only unless write (then
// idmapped), with Landlock rights to match; a relative source is recorded absolute,
// from the policy file's directory; env_from_host and env_file reach the Plan as names.
func TestCompileBindsAndEnvSources(t *testing.T) {
	src := `version: 1
name: web
run:
  command: [/usr/sbin/nginx]
  env_from_host: [TZ, LANG]
  env_file: ./app.env
  env: {A: "1"}
filesystem:
  read: [/usr, /etc/nginx]
  tmpfs: [/run]
  bind:
    - {source: ./nginx.conf, target: /etc/nginx/nginx.conf}
    - {source: /srv/data, target: /var/lib/web, write: true}
    - {source: sock, target: /run/app.sock, write: true, idmap: false}
syscalls: {extends: default}
`
	s, err := Open(absFS{fstest.MapFS{"web/web.yaml": {Data: []byte(src)}}}, "web/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Components[0]
	var binds []plan.Mount
	lastOther := -1
	for i, m := range c.Mounts {
		if m.Why == "filesystem.bind" {
			binds = append(binds, m)
		} else if len(binds) == 0 && m.Type != "proc" {
			lastOther = i
		}
	}
	if len(binds) != 3 || lastOther < 0 || c.Mounts[lastOther].Target != "/run" {
		t.Fatalf("binds %+v should follow the read, write and tmpfs mounts (last: %+v)", binds, c.Mounts[lastOther])
	}
	want := []struct {
		source string
		ro     bool
		idmap  bool
	}{{"/srv/policies/web/nginx.conf", true, false}, {"/srv/data", false, true}, {"/srv/policies/web/sock", false, false}}
	for i, w := range want {
		m := binds[i]
		if m.Source != w.source || slices.Contains(m.Options, "ro") != w.ro || m.Idmap != w.idmap {
			t.Errorf("bind %d: %+v, want source %s ro %v idmap %v", i, m, w.source, w.ro, w.idmap)
		}
	}
	rules := map[string][]string{}
	for _, r := range c.Landlock.Paths {
		rules[r.Path] = r.Access
	}
	if a := rules["/etc/nginx/nginx.conf"]; slices.Contains(a, "write_file") || !slices.Contains(a, "read_file") {
		t.Errorf("read-only bind's Landlock rights %v", a)
	}
	if a := rules["/var/lib/web"]; !slices.Contains(a, "write_file") {
		t.Errorf("writable bind's Landlock rights %v", a)
	}
	pr := c.Process
	if !slices.Equal(pr.EnvFromHost, []string{"TZ", "LANG"}) || pr.EnvFile != "/srv/policies/web/app.env" || !slices.Equal(pr.Env, []string{"A=1"}) {
		t.Errorf("process env sources: %+v", pr)
	}
}

// Bind and env source errors, each at its position.
func TestBindValidation(t *testing.T) {
	cases := []struct{ fs, want string }{
		{"  bind: [{target: /etc/x}]", "c.yaml:8:10: filesystem.bind[0]: expected source: the host file or directory to bind"},
		{"  bind: [{source: ./x}]", "c.yaml:8:10: filesystem.bind[0]: expected target: the absolute path it appears at in the sandbox"},
		{"  bind: [{source: ./x, target: etc/x}]", `c.yaml:8:32: filesystem.bind[0].target: expected an absolute path, found "etc/x"`},
		{"  bind: [{source: ./x, target: /}]", "c.yaml:8:32: filesystem.bind[0].target: a bind cannot replace the whole root; use run.rootfs"},
		{"  bind: [{source: ./x, target: /dev/x}]", "c.yaml:8:32: filesystem.bind[0].target: /dev/x lies inside /dev, which confine mounts itself"},
		{"  bind: [{source: ./x, target: /app}]", "c.yaml:8:32: filesystem.bind[0].target: /app is already listed at filesystem.read[0]; a bind goes inside a listed directory, not on it"},
		{"  bind: [{source: ./x, target: /a/b}, {source: ./y, target: /a/b}]", "c.yaml:8:61: filesystem.bind[1].target: /a/b is already a target at filesystem.bind[0]; bind each target once"},
		{"  bind: [{source: ./x, target: /}]\n  write: [/srv/x]", "c.yaml:8:32: filesystem.bind[0].target: a bind cannot replace the whole root"},
		{"  write: [/srv/x/y]\n  bind: [{source: ./x, target: /srv/x}]", "c.yaml:8:11: filesystem.write[0]: /srv/x/y lies inside the bind target /srv/x (filesystem.bind[0]), which is mounted over it and would hide it"},
		{"  bind: [{source: \"./x\\u200b\", target: /a}]", `c.yaml:8:19: filesystem.bind[0].source: contains an invisible format character (U+200B) at character 4 of "./x\u200b"; expected visible text`},
		{"  bind: [{source: ./x, target: /a, write: maybe}]", `c.yaml:8:43: filesystem.bind[0].write: expected true or false, found "maybe"`},
		{"  bind: [{source: ./x, target: /a, idmap: 1}]", `c.yaml:8:43: filesystem.bind[0].idmap: expected true or false, found "1"`},
	}
	for _, tc := range cases {
		src := strings.Replace(base, "  read: [/app]", "  read: [/app]\n"+tc.fs, 1)
		got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.fs, got, tc.want)
		}
	}
	for _, tc := range []struct{ run, want string }{
		{"  env_from_host: [TZ, 1X]", `c.yaml:6:23: run.env_from_host[1]: expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), found "1X"`},
		{"  env_from_host: [TZ, TZ]", "c.yaml:6:23: run.env_from_host[1]: TZ is already listed at run.env_from_host[0]"},
		{"  env_file: \"a\\tb\"", `c.yaml:6:13: run.env_file: contains a control character (U+0009) at character 2 of "a\tb"; expected visible text`},
		{"  health: {exec: [bin/check]}", `c.yaml:6:19: run.health.exec[0]: expected an absolute path, found "bin/check"`},
		{"  health: {exec: [/app/check], tcp: 8080}", "c.yaml:6:18: run.health.exec: a health check is tcp or exec, not both"},
	} {
		src := strings.Replace(base, `  user: "1000:1000"`, `  user: "1000:1000"`+"\n"+tc.run, 1)
		got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.run, got, tc.want)
		}
	}
	// A command under a bind target exists in the sandbox.
	src := strings.Replace(base, "  read: [/app]", "  read: [/usr]\n  bind: [{source: ./app, target: /app}]", 1)
	if got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml"); got != "" {
		t.Errorf("a command under a bind target: %s", got)
	}
}
