package policy

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"
)

// shareComponents extend the built-in profiles in several ways (extends lists that
// overlap, syscalls.extends, none) and mix allows and denies of one syscall, argument
// conditions repeated across rules, errno groups and syscalls that several groups hold.
var shareComponents = map[string]string{
	"a.yaml": `version: 1
name: a
extends: [service]
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
syscalls:
  extends: default
  allow:
    - "@network-io"
    - "@privileged"
    - names: [ioctl]
      args: [{index: 1, op: eq, value: TIOCSTI}]
    - names: [ioctl, socket]
      args: [{index: 0, op: eq, value: 3}]
    - names: [socket]
      args: [{index: 0, op: masked_eq, mask: 0xffffffff, value: AF_INET}]
    - names: [clone]
      args: [{index: 0, op: masked_eq, mask: CLONE_NEWUSER, value: 0}]
    - names: [personality]
      args: [{index: 0, op: eq, value: 0}]
    - names: [personality]
      args: [{index: 0, op: eq, value: 8}]
    - names: [personality]
      args: [{index: 0, op: eq, value: 0}]
  deny:
    - names: [ioctl]
      args: [{index: 1, op: eq, value: TIOCSTI}]
    - names: [personality]
      args: [{index: 0, op: eq, value: 8}]
    - names: ["@mount", "@chown"]
      errno: EROFS
    - names: ["@setuid"]
      errno: ENOSYS
    - names: [setuid, chown]
      errno: EIO
    - names: [mount]
    - names: [kill]
      args: [{index: 1, op: eq, value: 9}]
    - names: [kill]
      args: [{index: 1, op: eq, value: 9}]
      errno: EROFS
  on_violation: errno
`,
	"b.yaml": `version: 1
name: b
extends: [cli, service]
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
syscalls:
  allow:
    - "@basic-io"
    - "@aio"
    - names: [socket]
      args: [{index: 0, op: eq, value: 1}]
    - socket
  deny:
    - names: [socket]
      args: [{index: 0, op: eq, value: 1}]
    - names: ["@aio"]
      errno: ENOSYS
    - names: [io_uring_setup]
      args: [{index: 0, op: gt, value: 4}]
`,
	"c.yaml": `version: 1
name: c
extends: [default]
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
`,
	"d.yaml": `version: 1
name: d
extends: [service, cli, default, static]
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
syscalls:
  extends: service
  deny:
    - names: ["@network-io"]
      errno: ENETUNREACH
    - names: [write]
      args: [{index: 0, op: gt, value: 2}]
`,
	"e.yaml": `version: 1
name: e
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
syscalls:
  allow:
    - names: [read, write]
      args: [{index: 0, op: le, value: 2}]
    - names: [write]
      args: [{index: 0, op: ge, value: 0}]
    - "@default-base"
    - names: [read]
      args: [{index: 2, op: lt, value: 100}, {index: 0, op: eq, value: 0}]
  deny:
    - names: [read]
      args: [{index: 0, op: eq, value: 5}]
    - names: [write]
      args: [{index: 0, op: gt, value: 1}]
`,
	"f.yaml": `version: 1
name: f
extends: [service]
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
syscalls:
  allow: [ptrace]
  deny: [kill]
`,
	"g.yaml": `version: 1
name: g
extends: [service]
run: {command: [/bin/true]}
filesystem: {read: [/bin, /lib, /usr]}
syscalls:
  allow: [personality]
`,
}

func shareFS(stacks map[string][]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for n, src := range shareComponents {
		fsys[n] = &fstest.MapFile{Data: []byte(src)}
	}
	for n, members := range stacks {
		list, _ := json.Marshal(members)
		fsys[n] = &fstest.MapFile{Data: []byte("version: 1\nname: mix\nsubnet: 10.89.0.0/24\ncomponents: " + string(list) + "\n")}
	}
	return fsys
}

func shareCompile(t *testing.T, fsys fstest.MapFS, name string) map[string]string {
	t.Helper()
	s, err := Open(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range p.Components {
		data, err := json.Marshal(c.Seccomp)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Name] = string(data)
	}
	return out
}

// Merging shares a profile's rules with every component that extends it (merge.go's
// appendRules): compiling the components of a stack in one process, in either order and
// twice, gives each the filter it gets alone, and the cached profiles stay what their
// literals are.
func TestStackComponentsKeepTheirOwnRules(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g"}
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	files := func(ns []string) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n+".yaml")
		}
		return out
	}
	fsys := shareFS(map[string][]string{"stack.yaml": files(names), "reversed.yaml": files(reversed)})
	lone := map[string]string{}
	for _, n := range names {
		lone[n] = shareCompile(t, fsys, n+".yaml")[n]
	}
	for _, stack := range []string{"stack.yaml", "reversed.yaml", "stack.yaml"} {
		got := shareCompile(t, fsys, stack)
		for _, n := range names {
			if got[n] != lone[n] {
				t.Errorf("%s: component %s's seccomp differs from its own compile:\n got %s\nwant %s", stack, n, got[n], lone[n])
			}
		}
	}
	for _, name := range builtinProfiles() {
		cached, ok := loadedProfiles.Load(name)
		if !ok {
			continue
		}
		if !reflect.DeepEqual(cached.(*Component), profileTable(name)) {
			t.Errorf("the cached profile %s no longer matches its literal", name)
		}
	}
	// Effectives held at once (as a stack's are) do not write into each other's lists.
	effective := func(n string) *Component {
		c, err := Load(fsys, n+".yaml")
		if err != nil {
			t.Fatal(err)
		}
		eff, errs := Effective(c)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return eff
	}
	type heldEff struct {
		name   string
		live   *Syscalls
		copied Syscalls
	}
	var held []heldEff
	for _, n := range append(slices.Clone(names), reversed...) {
		sc := &effective(n).Syscalls
		held = append(held, heldEff{n, sc, Syscalls{Allow: slices.Clone(sc.Allow), Deny: slices.Clone(sc.Deny), OnViolation: sc.OnViolation}})
	}
	for i, h := range held {
		if !reflect.DeepEqual(*h.live, h.copied) {
			t.Errorf("merge %d: component %s's merged syscalls changed while other components merged theirs", i, h.name)
		}
	}
	// An Effective's lists may share a profile's, but appending to them copies.
	c, err := Load(fsys, "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eff, errs := Effective(c)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	n := len(eff.Syscalls.Allow)
	eff.Syscalls.Allow = append(eff.Syscalls.Allow, SyscallRule{Names: []string{"ptrace"}})
	eff.Syscalls.Deny = append(eff.Syscalls.Deny, SyscallRule{Names: []string{"read"}})
	again, _ := Effective(c)
	if len(again.Syscalls.Allow) != n || slices.ContainsFunc(again.Syscalls.Deny, func(r SyscallRule) bool { return slices.Equal(r.Names, []string{"read"}) }) {
		t.Errorf("appending to one Effective's rules changed the next: %d allow rules, want %d", len(again.Syscalls.Allow), n)
	}
	if got := shareCompile(t, fsys, "c.yaml")["c"]; got != lone["c"] {
		t.Errorf("c's seccomp changed after an Effective was appended to")
	}
}
