package policy

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// maximalStack and maximalComponent use every key of the schema, each string field at
// least once, and both forms of the fields that have two (a bare syscall name and a
// rule, a path and {path, idmap}).
const maximalStack = `version: 1
name: shop
subnet: 10.88.0.0/24
components: [api.yaml, db.yaml]
publish: ["127.0.0.1:8080 -> api:8080/tcp", "127.0.0.1:5353 -> api:53/udp"]
`

const maximalComponent = `version: 1
name: api
extends: [service]
run:
  command: [/app/api, --port, "8080"]
  rootfs: ./rootfs
  user: "1000:1000"
  env: {LOG_LEVEL: info}
  workdir: /app
  hostname: api
  groups: [audio, "20"]
  restart: on-failure
  depends_on: [db]
  health: {tcp: 8080, interval: 2s, timeout: 1s, retries: 3}
filesystem:
  read: [/app, {path: /srv/data}]
  write: [{path: /var/lib/api, idmap: false}, /var/cache/api]
  tmpfs: [/tmp]
network:
  listen:
    - port: 8080/tcp
      from: [host, 192.168.0.0/16]
    - port: 53/udp
      from: [host, 192.168.0.0/16]
  connect:
    - to: db:5432/tcp
syscalls:
  extends: default
  allow:
    - io_uring_setup
    - names: [ioctl]
      args: [{index: 1, op: masked_eq, value: TIOCSTI, mask: "0xffff"}]
  deny:
    - ptrace
    - names: [clone3]
      errno: ENOSYS
  on_violation: errno
capabilities: [NET_BIND_SERVICE]
resources: {memory: 256Mi, pids: 128, cpu: 0.5, nofile: 1024}
best_effort: [cgroups]
`

const maximalDB = `version: 1
name: db
run: {command: [/db], health: {tcp: 5432}}
filesystem: {read: [/db]}
network:
  listen: [{port: 5432/tcp, from: [api]}]
syscalls: {extends: default}
`

// TestEveryScalarRefusesInvisible puts U+202E, U+200B and NUL, as YAML escapes the
// file's text does not show, into every key and every value of a maximal stack and
// component in turn, and wants each refused where it stands. A field that a decoder of
// its own (decodeNode) took past the check would load instead.
func TestEveryScalarRefusesInvisible(t *testing.T) {
	fsys := fstest.MapFS{
		"stack.yaml": {Data: []byte(maximalStack)},
		"api.yaml":   {Data: []byte(maximalComponent)},
		"db.yaml":    {Data: []byte(maximalDB)},
	}
	if errs := Check(fsys, "stack.yaml"); len(errs) > 0 {
		t.Fatalf("the maximal stack has errors:\n%v", errs)
	}
	for _, file := range []string{"stack.yaml", "api.yaml"} {
		var root yaml.Node
		if err := yaml.Unmarshal(fsys[file].Data, &root); err != nil {
			t.Fatal(err)
		}
		scalars := collectScalars(&root)
		for i := range scalars {
			for _, r := range []rune{'\u202e', '\u200b', 0} {
				n := scalars[i]
				value, style := n.Value, n.Style
				n.Value, n.Style = string(r)+value, yaml.DoubleQuotedStyle
				out, err := yaml.Marshal(&root)
				n.Value, n.Style = value, style
				if err != nil {
					t.Fatal(err)
				}
				// yaml.v3 escapes NUL but writes U+202E and U+200B as they are.
				out = []byte(strings.ReplaceAll(string(out), string(r), fmt.Sprintf(`\u%04x`, r)))
				var again yaml.Node
				yaml.Unmarshal(out, &again)
				line := collectScalars(&again)[i].Line
				files := fstest.MapFS{}
				for k, v := range fsys {
					files[k] = v
				}
				files[file] = &fstest.MapFile{Data: out}
				got := Check(files, "stack.yaml").Error()
				want := fmt.Sprintf("(%U) at character 1 of ", r)
				if !strings.Contains(got, want) || !strings.Contains(got, fmt.Sprintf("%s:%d:", file, line)) {
					t.Errorf("%s: %U before %q (line %d) is not refused there:\n%s", file, r, value, line, got)
				}
			}
		}
	}
}

// collectScalars lists the scalar nodes of a document in order, mapping keys included.
func collectScalars(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.ScalarNode {
		return []*yaml.Node{n}
	}
	var out []*yaml.Node
	for _, c := range n.Content {
		out = append(out, collectScalars(c)...)
	}
	return out
}

// TestStackMergeErrorThenGoodMember: a member whose profiles do not merge (an unknown
// one) followed by one that does is reported, not a panic.
func TestStackMergeErrorThenGoodMember(t *testing.T) {
	bad := strings.Replace(maximalComponent, "extends: [service]", "extends: [nope]", 1)
	got := checkYAML(t, map[string]string{"stack.yaml": maximalStack, "api.yaml": bad, "db.yaml": maximalDB}, "stack.yaml")
	if !strings.Contains(got, `api.yaml:3:11: extends[0]: unknown profile "nope"`) {
		t.Errorf("got %s", got)
	}
}
