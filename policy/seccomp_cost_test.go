package policy

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// TestSeccompConditionsBounded: libseccomp's time grows about with the cube of the
// argument conditions on one syscall (100 rules of 6 conditions took 0.5 s, 2,000 rules
// of 2 names and 2 conditions over 8 minutes before the BPF limit refused them), so
// compile refuses more than maxArgConditions before libseccomp sees them.
func TestSeccompConditionsBounded(t *testing.T) {
	rules := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  - {names: [ioctl], args: [{index: 0, op: eq, value: %d}, {index: 1, op: gt, value: %d}, {index: 2, op: ne, value: %d}, {index: 3, op: lt, value: %d}, {index: 4, op: ge, value: %d}, {index: 5, op: le, value: %d}]}\n", i, 2*i, 3*i, 4*i, 5*i, 6*i)
		}
		return b.String()
	}
	src := "version: 1\nname: c\nrun: {command: [/r/p]}\nfilesystem: {read: [/r]}\nsyscalls:\n  extends: default\n  deny:\n"
	s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(src + rules(100))}}, "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(s)
	if want := fmt.Sprintf("argument conditions, more than the %d confine compiles", maxArgConditions); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("600 conditions: %v, want %q", err, want)
	}
	s, err = Open(fstest.MapFS{"c.yaml": {Data: []byte(src + rules(40))}}, "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(s); err != nil {
		t.Errorf("240 conditions: %v", err)
	}
}

// TestStackSeccompBounded: a whole stack's libseccomp work is bounded too, by distinct
// programs and by their conditions together; components sharing one syscall section
// build one program and count once.
func TestStackSeccompBounded(t *testing.T) {
	stack := func(n int, syscalls func(i int) string) fstest.MapFS {
		fsys := fstest.MapFS{}
		var names []string
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("c%d", i)
			names = append(names, name+".yaml")
			src := "version: 1\nname: " + name + "\nrun: {command: [/r/p]}\nfilesystem: {read: [/r]}\nsyscalls:\n  extends: default\n" + syscalls(i)
			fsys[name+".yaml"] = &fstest.MapFile{Data: []byte(src)}
		}
		fsys["s.yaml"] = &fstest.MapFile{Data: []byte("version: 1\nname: s\nsubnet: 10.0.0.0/16\ncomponents: [" + strings.Join(names, ", ") + "]\n")}
		return fsys
	}
	compile := func(fsys fstest.MapFS) error {
		s, err := Open(fsys, "s.yaml")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(s)
		return err
	}
	distinct := func(i int) string {
		return fmt.Sprintf("  deny: [{names: [ioctl], args: [{index: 1, op: eq, value: %d}]}]\n", i)
	}
	if err := compile(stack(maxPrograms+1, distinct)); err == nil || !strings.Contains(err.Error(), "distinct syscall filters") {
		t.Errorf("%d distinct programs: %v, want the program bound", maxPrograms+1, err)
	}
	same := func(int) string { return distinct(7) }
	if err := compile(stack(maxPrograms+1, same)); err != nil {
		t.Errorf("%d components sharing one program: %v", maxPrograms+1, err)
	}
	heavy := func(i int) string {
		var b strings.Builder
		b.WriteString("  deny:\n")
		for j := 0; j < 70; j++ { // 420 conditions a component, under the per-component bound
			fmt.Fprintf(&b, "  - {names: [ioctl], args: [{index: 0, op: eq, value: %d}, {index: 1, op: gt, value: %d}, {index: 2, op: ne, value: %d}, {index: 3, op: lt, value: %d}, {index: 4, op: ge, value: %d}, {index: 5, op: le, value: %d}]}\n", j, i, j, j, j, j)
		}
		return b.String()
	}
	if err := compile(stack(3, heavy)); err == nil || !strings.Contains(err.Error(), "argument conditions together") {
		t.Errorf("three heavy programs: %v, want the stack's condition bound", err)
	}
}
