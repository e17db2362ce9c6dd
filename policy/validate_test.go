package policy

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// base is a valid component; each table row breaks one thing in it.
const base = `version: 1
name: billing
run:
  command: [/app/billing]
  user: "1000:1000"
filesystem:
  read: [/app]
network:
  listen:
    - port: 8080/tcp
      from: [10.0.0.0/8]
syscalls:
  extends: default
`

func checkYAML(t *testing.T, files map[string]string, name string) string {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, data := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(data)}
	}
	return Check(fsys, name).Error()
}

func TestValidBaseHasNoErrors(t *testing.T) {
	if got := checkYAML(t, map[string]string{"c.yaml": base}, "c.yaml"); got != "" {
		t.Fatalf("base policy: %s", got)
	}
}

// Each row replaces one line of base (old → new) and names the one error it must cause,
// with its exact position.
func TestValidationErrors(t *testing.T) {
	cases := []struct{ old, new, want string }{
		{"version: 1", "version: 3", "c.yaml:1:10: version: expected version: 1, found 3"},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  restart: sometimes", `c.yaml:6:12: run.restart: unknown restart policy "sometimes"; expected one of: no, on-failure, always`},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  health: {tcp: 9090}", "c.yaml:6:17: run.health.tcp: port 9090/tcp is not under network.listen"},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  health: {tcp: 8080, interval: soon}", `c.yaml:6:33: run.health.interval: expected a duration from 10ms to 1h (e.g. 2s, 500ms), found "soon"`},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  depends_on: [billing]", "c.yaml:6:16: run.depends_on[0]: billing depends on itself"},
		{"name: billing", "name: -billing", `c.yaml:2:7: name: expected a name of lowercase letters, digits and inner hyphens (at most 32), found "-billing"`},
		{"name: billing", "nme: billing", `c.yaml:2:1: nme: unknown key "nme" (did you mean "name"?)`},
		{"command: [/app/billing]", "command: []", "c.yaml:4:12: run.command: expected a command"},
		{"command: [/app/billing]", "command: [/opt/billing]", "c.yaml:4:13: run.command[0]: /opt/billing is not under any filesystem.read or write path"},
		{`user: "1000:1000"`, "user: Nobody", `c.yaml:5:9: run.user: expected a user name or UID, optionally :GROUP or :GID (e.g. redis, 1000:1000, postgres:ssl-cert), found "Nobody"`},
		{`user: "1000:1000"`, `user: "redis:"`, `c.yaml:5:9: run.user: expected a user name or UID, optionally :GROUP or :GID`},
		{`user: "1000:1000"`, `user: "4294967295"`, `c.yaml:5:9: run.user: expected a user name or UID, optionally :GROUP or :GID`},
		{"read: [/app]", "read: [/app, /app]", "c.yaml:7:16: filesystem.read[1]: /app is already listed at filesystem.read[0]"},
		{`user: "1000:1000"`, `user: "70000"`, `c.yaml:5:9: run.user: expected ids below 65536 (a component has ids 0-65535 of its own), found "70000"`},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  groups: [ssl-cert, Bad!]", `c.yaml:6:22: run.groups[1]: expected a group name (lowercase letters, digits, _ . -) or a gid, found "Bad!"`},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  groups: [65536]", "c.yaml:6:12: run.groups[0]: expected a gid below 65536, found 65536"},
		{`user: "1000:1000"`, `user: "1000:1000"` + "\n  groups: [adm, adm]", "c.yaml:6:17: run.groups[1]: adm is already listed at run.groups[0]"},
		{"read: [/app]", "read: [{path: /app, idmap: yes}]", `c.yaml:7:30: filesystem.read[0].idmap: expected true or false, found "yes"`},
		{"read: [/app]", "read: [{idmap: true}]", "c.yaml:7:10: filesystem.read[0]: expected path: the directory or file, beside idmap"},
		{"read: [/app]", "read: [{path: /app, idmp: true}]", `c.yaml:7:23: filesystem.read[0].idmp: unknown key "idmp" (did you mean "idmap"?); expected one of: path, idmap`},
		{"read: [/app]", "read: [{path: /app, idmap: true}, /app]", "c.yaml:7:37: filesystem.read[1]: /app is already listed at filesystem.read[0]"},
		{"user: \"1000:1000\"\nfilesystem:\n  read: [/app]", "user: \"1000:1000\"\n  rootfs: /srv/root\nfilesystem:\n  read: [{path: /app, idmap: true}]", "c.yaml:8:30: filesystem.read[0].idmap: under run.rootfs, read paths are part of the rootfs"},
		{"read: [/app]", "read: [/app]\n  write: [/]", "c.yaml:8:11: filesystem.write[0]: the whole filesystem cannot be writable"},
		{"read: [/app]", "read: [/app]\n  tmpfs: [/app/tmp/]", `c.yaml:8:11: filesystem.tmpfs[0]: expected a clean path ("/app/tmp")`},
		{"read: [/app]", "read: [/app]\n  write: [/tmp/data]\n  tmpfs: [/tmp]", "c.yaml:8:11: filesystem.write[0]: /tmp/data lies inside the tmpfs /tmp, which is mounted over it and would hide it"},
		{"read: [/app]", "read: [/app, /proc/self]", "c.yaml:7:16: filesystem.read[1]: /proc/self lies inside /proc, which confine mounts itself"},
		{"from: [10.0.0.0/8]", "from: [\"[10.0.0.1\"]", `expected a component name, an IP address or a CIDR, found "[10.0.0.1"`},
		{"from: [10.0.0.0/8]", "from: [10.0.0.0/8]\n  connect:\n    - to: 10.0.0.0/8:443/tcp\n    - to: 10.1.0.0/16:400-500/tcp", "c.yaml:14:11: network.connect[1].to: 10.1.0.0/16:400-500/tcp overlaps 10.0.0.0/8:443/tcp at network.connect[0]; merge them into one entry"},
		{"from: [10.0.0.0/8]", "from: [10.0.0.0/8, 10.1.2.3]", "c.yaml:11:26: network.listen[0].from[1]: 10.1.2.3 overlaps 10.0.0.0/8 at network.listen[0].from[0]; list each source once"},
		{"command: [/app/billing]", "command: [/app/billing, \"a\\nComponent evil\"]", "c.yaml:4:27: run.command[1]: contains a control character"},
		{"port: 8080/tcp", "port: 0/tcp", `c.yaml:10:13: network.listen[0].port: expected a port from 1 to 65535, found "0"`},
		{"port: 8080/tcp", "port: 9000-8000/tcp", `c.yaml:10:13: network.listen[0].port: port range "9000-8000" runs backwards`},
		{"port: 8080/tcp", "port: 8080", `c.yaml:10:13: network.listen[0].port: expected PORT/tcp or PORT/udp`},
		{"from: [10.0.0.0/8]", "from: [10.0.0.1/8]", `c.yaml:11:14: network.listen[0].from[0]: CIDR "10.0.0.1/8" has host bits set; expected 10.0.0.0/8`},
		{"from: [10.0.0.0/8]", "from: []", `c.yaml:10:7: network.listen[0]: expected from:`},
		{"from: [10.0.0.0/8]", "from: [\"fd00::/8\"]", `c.yaml:11:14: network.listen[0].from[0]: IPv6 peers are not supported yet`},
		{"extends: default", "extends: defualt", `c.yaml:13:12: syscalls.extends: unknown profile "defualt" (did you mean "default"?)`},
		{"extends: default", "extends: default\n  on_violation: trap", `c.yaml:14:17: syscalls.on_violation: expected errno, kill or log, found "trap"`},
		{"extends: default", "extends: default\n  allow: [getpidd]", `c.yaml:14:11: syscalls.allow[0].names[0]: unknown syscall "getpidd" for this architecture (did you mean "getpid"?)`},
		{"extends: default", "extends: default\n  allow: [\"@netio\"]", `c.yaml:14:11: syscalls.allow[0].names[0]: unknown syscall group "@netio"`},
		{"extends: default", "extends: default\n  deny: [{names: [ioctl], args: [{index: 1, op: eq, value: TIOCSTI}], errno: EPERM}]", `c.yaml:14:78: syscalls.deny[0].errno: EPERM is what every undeclared syscall already gets under on_violation: errno`},
		{"extends: default", "extends: default\n  allow: [{names: [socket], args: [{index: 0, op: eq, value: AF_INET, mask: 7}]}]", `syscalls.allow[0].args[0].mask: mask applies to masked_eq only`},
		{"extends: default", "extends: default\n  allow: [{names: [socket], args: [{index: 0, op: masked_eq, mask: 0xff, value: 0x100}]}]", `syscalls.allow[0].args[0].value: 0x100 has bits outside the mask 0xff, so the rule could never match`},
		{"extends: default", "extends: default\n  on_violation: kill\n  deny: [{names: [ioctl], args: [{index: 1, op: eq, value: TIOCSTI}], errno: EPERM}]", `NOERROR`},
		{"extends: default", "extends: default\ncapabilities: [NET_ADMN]", `c.yaml:14:16: capabilities[0]: unknown capability "NET_ADMN" (did you mean "NET_ADMIN"?)`},
		{"extends: default", "extends: default\nresources: {memory: 512Ki}", `c.yaml:14:21: resources.memory: expected at least 1Mi, found 512Ki`},
		{"extends: default", "extends: default\nresources: {cpu: 0.001}", `c.yaml:14:18: resources.cpu: expected a number of CPUs from 0.01 to 1024`},
		{"extends: default", "extends: default\nresources: {memory: NaN}", `c.yaml:14:21: resources.memory: expected a size such as 256Mi`},
		{"extends: default", "extends: default\nresources: {cpu: fast}", `c.yaml:14:18: resources.cpu: expected a number, found "fast"`},
		{"extends: default", "extends: default\nresources: {nofile: 99999999}", `c.yaml:14:21: resources.nofile: expected a count from 1 to 1048576 (or 0 for the default, 1024), found 99999999`},
		{"extends: default", "extends: default\nmode: permissive", `c.yaml:14:7: mode: expected enforce or audit, found "permissive"`},
		{"extends: default", "extends: default\nbest_effort: [landlok]", `c.yaml:14:15: best_effort[0]: unknown mechanism "landlok" (did you mean "landlock"?)`},
		{"extends: default", "extends: default\nextends: [nope]", `c.yaml:14:11: extends[0]: unknown profile "nope"`},
		{"extends: default", "extends: default\nrun: {}", `c.yaml:14:1: run: key "run" appears twice`},
		{"extends: default", "extends: &x default", `c.yaml:13:12: syscalls.extends: anchors and aliases are not supported`},
		{"version: 1", "version: one", `c.yaml:1:10: version: expected an integer, found "one"`},
		{"from: [10.0.0.0/8]", "from: {a: b}", `c.yaml:11:13: network.listen[0].from: expected a list, found a mapping`},
		{"filesystem:", "filesystem: 7\nx:", `c.yaml:6:13: filesystem: expected a mapping, found "7"`},
	}
	for _, tc := range cases {
		if !strings.Contains(base, tc.old) {
			t.Fatalf("bad row: %q is not in base", tc.old)
		}
		src := strings.Replace(base, tc.old, tc.new, 1)
		got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
		if tc.want == "NOERROR" {
			if got != "" {
				t.Errorf("%s → %s: want no error, got %s", tc.old, tc.new, got)
			}
			continue
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s → %s:\n got: %s\nwant: %s", tc.old, tc.new, got, tc.want)
		}
	}
}

func TestProfileTmpfsHidesPaths(t *testing.T) {
	src := strings.Replace(base, "name: billing", "name: billing\nextends: [cli]", 1)
	src = strings.Replace(src, "read: [/app]", "read: [/app]\n  write: [/tmp/data]", 1)
	got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
	if want := "c.yaml:9:11: filesystem.write[0]: /tmp/data lies inside the tmpfs /tmp that a profile adds"; !strings.Contains(got, want) {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestUnreadableFile(t *testing.T) {
	got := Check(fstest.MapFS{}, "missing.yaml").Error()
	if got != "missing.yaml: cannot read the file: file does not exist" {
		t.Errorf("got %q", got)
	}
}

func TestProfileCycle(t *testing.T) {
	// Built-in profiles cannot cycle today; the resolver still must not loop on one.
	c := &Component{Name: "x", Extends: []string{"service"}, pos: positions{}}
	if _, errs := Effective(c); len(errs) != 0 {
		t.Fatalf("service profile: %v", errs)
	}
	var errs ErrorList
	resolve(&Component{Extends: []string{"service"}, pos: positions{}}, []string{"service"}, &errs)
	if !strings.Contains(errs.Error(), "profile cycle: service -> service") {
		t.Fatalf("got %v", errs)
	}
}

// TestBadGallery checks examples/bad: every file must fail with exactly the errors in its
// .errors golden file (go test ./policy -update rewrites them).
func TestBadGallery(t *testing.T) {
	fsys := os.DirFS("../examples")
	files, _ := filepath.Glob("../examples/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad examples")
	}
	for _, file := range files {
		name := "bad/" + filepath.Base(file)
		got := Check(fsys, name).Error() + "\n"
		golden := strings.TrimSuffix(file, ".yaml") + ".errors"
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./policy -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", name, got, want)
		}
		if got == "\n" {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTwoSidedFlows(t *testing.T) {
	files := map[string]string{
		"s/stack.yaml": "version: 1\nname: s\nsubnet: 10.9.0.0/24\ncomponents: [a.yaml, b.yaml]\n",
	}
	a := `version: 1
name: a
run: {command: [/app/a]}
filesystem: {read: [/app]}
network:
  connect:
    - to: b:9000/tcp
syscalls: {extends: default}
`
	b := `version: 1
name: b
run: {command: [/app/b]}
filesystem: {read: [/app]}
network:
  listen:
    - port: 9000/tcp
      from: [c]
syscalls: {extends: default}
`
	files["s/a.yaml"], files["s/b.yaml"] = a, b
	got := checkYAML(t, files, "s/stack.yaml")
	for _, want := range []string{
		"s/a.yaml:7:11: network.connect[0].to: a connects to b:9000/tcp, but b's listen.from does not name a (s/b.yaml:8:13)",
		`s/b.yaml:8:14: network.listen[0].from[0]: unknown component "c"; the stack has: a, b`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	// An address inside the stack's subnet would skip the two-sided rule.
	files["s/a.yaml"] = strings.Replace(a, "b:9000/tcp", "10.9.0.3:9000/tcp", 1)
	if got := checkYAML(t, files, "s/stack.yaml"); !strings.Contains(got, "s/a.yaml:7:11: network.connect[0].to: 10.9.0.3 overlaps the stack's subnet 10.9.0.0/24; name the component instead") {
		t.Errorf("subnet address accepted: %s", got)
	}
	files["s/a.yaml"] = a
	// Both sides declared: no error.
	files["s/b.yaml"] = strings.Replace(b, "from: [c]", "from: [a]", 1)
	if got := checkYAML(t, files, "s/stack.yaml"); got != "" {
		t.Errorf("two-sided flow rejected: %s", got)
	}
}
