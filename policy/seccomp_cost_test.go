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
