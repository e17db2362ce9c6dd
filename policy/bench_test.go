package policy

import (
	"fmt"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// chainStack is a stack of n components where each calls the next on 8080/tcp.
func chainStack(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	stack := fmt.Sprintf("version: 1\nname: big\nsubnet: 10.0.0.0/16\ncomponents:\n")
	for i := 0; i < n; i++ {
		stack += fmt.Sprintf("  - c%d.yaml\n", i)
		src := fmt.Sprintf(`version: 1
name: c%d
extends: [service]
run: {command: [/app/c], user: "1000"}
filesystem: {read: [/app], write: [/var/lib/c%d]}
network:
  listen:
    - port: 8080/tcp
      from: [%s]
  connect:
    - to: c%d:8080/tcp
    - to: 192.168.0.0/16:443/tcp
syscalls: {extends: default, allow: [io_uring_setup]}
resources: {memory: 64Mi, pids: 32}
`, i, i, fmt.Sprintf("c%d", (i+n-1)%n), (i+1)%n)
		fsys[fmt.Sprintf("c%d.yaml", i)] = &fstest.MapFile{Data: []byte(src)}
	}
	fsys["stack.yaml"] = &fstest.MapFile{Data: []byte(stack)}
	return fsys
}

// BenchmarkCompileStack1000 is load, validate and compile of a 1,000-component stack
// (target: under a second on 2 cores). BenchmarkParseStack1000 is the baseline in the
// same run: yaml.v3 parsing the same files and nothing else.
func BenchmarkCompileStack1000(b *testing.B) {
	fsys := chainStack(1000)
	for b.Loop() {
		s, err := Open(fsys, "stack.yaml")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseStack1000(b *testing.B) {
	fsys := chainStack(1000)
	for b.Loop() {
		for name, f := range fsys {
			var n yaml.Node
			if err := yaml.Unmarshal(f.Data, &n); err != nil {
				b.Fatal(name, err)
			}
		}
	}
}

// BenchmarkCompileComponent is one component with the default profile, seccomp included.
func BenchmarkCompileComponent(b *testing.B) {
	fsys := chainStack(1)
	for b.Loop() {
		s, err := Open(fsys, "c0.yaml")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}
