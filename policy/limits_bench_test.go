package policy

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// largest is a component near the load limits: maxListLen entries in each of
// filesystem.read, write and tmpfs and network.connect, and 2,500 syscall rules with an
// argument condition, about 95,000 YAML values in 0.75 MB, every entry distinct and valid.
func largest() []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\nrun: {command: [/r/p0]}\n")
	b.WriteString("filesystem:\n")
	for _, list := range []string{"read", "write", "tmpfs"} {
		fmt.Fprintf(&b, "  %s:\n", list)
		for i := 0; i < maxListLen; i++ {
			fmt.Fprintf(&b, "  - /%c/p%d\n", list[0], i)
		}
	}
	b.WriteString("network:\n  connect:\n")
	for i := 0; i < maxListLen; i++ {
		fmt.Fprintf(&b, "  - to: 10.%d.%d.0/24:443/tcp\n", i/256, i%256)
	}
	b.WriteString("syscalls:\n  extends: default\n  allow:\n")
	for i := 0; i < maxListLen/4; i++ {
		fmt.Fprintf(&b, "  - {names: [ioctl], args: [{index: 1, op: eq, value: %d}]}\n", i)
	}
	return []byte(b.String())
}

// BenchmarkLoadLargest is Open (read, text scan, parse, limits, decode) of the largest
// file the limits accept; BenchmarkParseLargest is yaml.v3 parsing it, the baseline.
func BenchmarkLoadLargest(b *testing.B) {
	fsys := fstest.MapFS{"c.yaml": {Data: largest()}}
	b.SetBytes(int64(len(fsys["c.yaml"].Data)))
	for b.Loop() {
		if _, err := Open(fsys, "c.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLargest(b *testing.B) {
	data := largest()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLargestIsNearTheLimits keeps largest() what the benchmarks say it is. (Validating
// it is the benchmark for linear validation, which belongs with validate and merge.)
func TestLargestIsNearTheLimits(t *testing.T) {
	data := largest()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	l := &limiter{file: "c.yaml"}
	l.walk(&root, "", 0)
	t.Logf("%d bytes, %d values", len(data), l.nodes)
	if len(l.errs) > 0 || l.nodes < maxNodes*9/10 {
		t.Fatalf("%d values, %v", l.nodes, l.errs)
	}
}

// BenchmarkLoadStackLargest is Open of a stack at the stack limit: two members like
// largest(), 1.7 MB together.
func BenchmarkLoadStackLargest(b *testing.B) {
	big := largest()
	fsys := fstest.MapFS{
		"s.yaml": {Data: []byte("version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [a.yaml, b.yaml]\n")},
		"a.yaml": {Data: big},
		"b.yaml": {Data: []byte(strings.Replace(string(big), "name: big", "name: bag", 1))},
	}
	for b.Loop() {
		if _, err := Open(fsys, "s.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
