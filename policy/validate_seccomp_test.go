package policy

import (
	"strings"
	"testing"
	"testing/fstest"
)

// A rule set libseccomp 2.5 cannot build is refused by check (and so by compile, audit
// diff and run) at the file's rule, naming the other rule and the argument; the shapes
// confine now builds pass.
func TestSeccompShapeRefusedAtRule(t *testing.T) {
	for _, tc := range []struct {
		name, syscalls string
		want           []string // "" when it passes
	}{{
		"an allow and a deny ranked alike on one argument",
		`  allow:
    - {names: [mount], args: [{index: 0, op: eq, value: 9}]}
  deny:
    - {names: [mount], args: [{index: 0, op: masked_eq, mask: 1, value: 1}]}
`, []string{"c.yaml:10:7: syscalls.deny[0]: libseccomp 2.5 cannot build this rule of mount beside the one at syscalls.allow[0]: both compare argument 0 (arg0 & 0x1 == 0x1 here, arg0 eq 0x9 there) in a way it does not keep apart: it may never finish building, or decide one rule's calls by the other's action or conditions; compare argument 0 in only one of them, or rewrite them so that no call matches both"},
	}, {
		"twins in two denies",
		`  allow: [mount]
  deny:
    - {names: [mount], args: [{index: 1, op: gt, value: 9}, {index: 2, op: ne, value: 0}]}
    - {names: [mount], args: [{index: 2, op: eq, value: 0}]}
`, []string{"c.yaml:1", ": syscalls.deny[", "beside the one at syscalls.deny[", "both compare argument 2 (arg2 "},
	}, {
		"an allow's range shared with another's, more conditions after it",
		`  allow:
    - {names: [mount], args: [{index: 1, op: ge, value: 5}, {index: 2, op: eq, value: 1}]}
    - {names: [mount], args: [{index: 1, op: ge, value: 9}, {index: 3, op: eq, value: 1}]}
`, []string{": syscalls.allow[1]: libseccomp 2.5 cannot build this rule of mount beside the one at syscalls.allow[0]: both compare argument 1 (arg1 ge 0x9 here, arg1 ge 0x5 there)"},
	}, {
		// The allow's "arg0 ge 0" is not the file's: the message says whose it is and
		// what to write instead.
		"an upper bound deny beside an unconditional allow",
		`  allow: [mount]
  deny:
    - {names: [mount], args: [{index: 0, op: lt, value: 7}]}
`, []string{": syscalls.deny[0]: libseccomp 2.5 cannot build this rule of mount beside the one at syscalls.allow[0]: both compare argument 0 (arg0 lt 0x7 here, arg0 ge 0x0 there: confine adds the one there to the allow, true for every value, so that libseccomp tries the deny first) in a way it does not keep apart", "; write the deny's comparison of argument 0 with eq or masked_eq, or compare argument 0 in the allow with eq (the values it allows)"},
	}, {
		"an upper bound deny beside a profile's unconditional allow",
		`  deny:
    - {names: [kill], args: [{index: 0, op: le, value: 1}]}
`, []string{"c.yaml:8:7: syscalls.deny[0]: libseccomp 2.5 cannot build this rule of kill beside the one at an allow rule of the profiles extended (kill, without conditions): both compare argument 0 (arg0 le 0x1 here, arg0 ge 0x0 there: confine adds the one there"},
	}, {
		"review24's rule set, which looped",
		`  allow:
    - {names: [mount], args: [{index: 1, op: eq, value: 2}, {index: 2, op: eq, value: 0}]}
    - {names: [mount], args: [{index: 2, op: eq, value: 2}]}
  deny:
    - {names: [mount], args: [{index: 0, op: eq, value: 9}]}
`, nil,
	}, {
		"an always-true deny, which was 'file exists'",
		`  allow: [write]
  deny:
    - {names: [write], args: [{index: 0, op: ge, value: 0}]}
`, nil,
	}} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			src := seccompBase + "syscalls:\n  extends: default\n" + tc.syscalls
			got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
			if tc.want == nil {
				if got != "" {
					t.Fatalf("refused: %s", got)
				}
				s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(src)}}, "c.yaml")
				if err == nil {
					_, err = Compile(s)
				}
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "cannot build"); n != 1 {
				t.Errorf("%d errors, want 1:\n%s", n, got)
			}
		})
	}
}

// Members sharing a refused syscalls section are each refused at their own rules.
func TestSeccompShapeRefusedInEachMember(t *testing.T) {
	member := func(name string) string {
		return strings.Replace(seccompBase, "name: t", "name: "+name, 1) + `syscalls:
  allow:
    - read
    - {names: [mount], args: [{index: 0, op: eq, value: 9}]}
  deny:
    - {names: [mount], args: [{index: 0, op: masked_eq, mask: 1, value: 1}]}
`
	}
	got := checkYAML(t, map[string]string{
		"s.yaml": "version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [a.yaml, b.yaml]\n",
		"a.yaml": member("a"), "b.yaml": member("b"),
	}, "s.yaml")
	for _, w := range []string{"a.yaml:10:7: syscalls.deny[0]: libseccomp 2.5 cannot build", "b.yaml:10:7: syscalls.deny[0]: libseccomp 2.5 cannot build"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}
