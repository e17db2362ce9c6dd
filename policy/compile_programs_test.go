//go:build cgo

package policy

import (
	"bytes"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
)

// mapStore is a ProgramStore in memory.
type mapStore map[string][]byte

func (m mapStore) Program(key string) []byte    { return m[key] }
func (m mapStore) Keep(key string, prog []byte) { m[key] = prog }

// TestCompileWithPrograms: a compile with a store keeps the program Compile builds, under
// a key that changes with the rules and the default action; a program the store holds
// under that key is the one the Plan carries (the store is trusted: sandbox/progcache
// keeps it root's alone); one that cannot be a program is built anew.
func TestCompileWithPrograms(t *testing.T) {
	compileIn := func(store ProgramStore, syscalls string) []byte {
		t.Helper()
		fsys := fstest.MapFS{"c.yaml": {Data: []byte(seccompBase + syscalls)}}
		s, err := Open(fsys, "c.yaml")
		if err != nil {
			t.Fatal(err)
		}
		p, err := CompileWithPrograms(s, nil, store)
		if err != nil {
			t.Fatal(err)
		}
		return p.Components[0].Seccomp.Program
	}
	plain := compileIn(nil, "syscalls: {extends: default}\n")
	store := mapStore{}
	if got := compileIn(store, "syscalls: {extends: default}\n"); !bytes.Equal(got, plain) || len(store) != 1 {
		t.Fatalf("a compile with a store made a different program, or kept %d", len(store))
	}
	for _, other := range []string{"syscalls: {extends: default, deny: [getppid]}\n", "syscalls: {extends: default, on_violation: kill}\n"} {
		compileIn(store, other)
	}
	if len(store) != 3 {
		t.Fatalf("kept %d programs for three different filters, want 3 keys", len(store))
	}
	var key string
	for k, v := range store {
		if bytes.Equal(v, plain) {
			key = k
		}
	}
	marked := append(bytes.Clone(plain[:len(plain)-8]), 6, 0, 0, 0, 0, 0, 0xff, 0x7f) // ret allow last
	store[key] = marked
	if got := compileIn(store, "syscalls: {extends: default}\n"); !bytes.Equal(got, marked) {
		t.Fatal("the program kept under the key was not the one taken")
	}
	store[key] = plain[:len(plain)-3] // not whole instructions
	if got := compileIn(store, "syscalls: {extends: default}\n"); !bytes.Equal(got, plain) || !bytes.Equal(store[key], plain) {
		t.Fatal("a kept program of partial instructions was taken, or not rebuilt and kept")
	}
}

// TestProgramKey: the key changes with every field of every rule and argument (walked by
// reflection, so a field added later is covered), and with where strings split; it does
// not change between two computations of the same section.
func TestProgramKey(t *testing.T) {
	base := func() *plan.Seccomp {
		return &plan.Seccomp{Arch: "amd64", DefaultAction: "errno", DefaultErrno: 1, Rules: []plan.SeccompRule{
			{Syscalls: []string{"ab", "c"}, Action: "allow", Errno: 0, Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 1, Mask: 0}}},
		}}
	}
	want := programKey(base())
	if programKey(base()) != want {
		t.Fatal("two keys of the same section differ")
	}
	changed := map[string]*plan.Seccomp{}
	s := base()
	s.Arch = "arm64"
	changed["Arch"] = s
	s = base()
	s.DefaultAction = "kill"
	changed["DefaultAction"] = s
	s = base()
	s.DefaultErrno = 2
	changed["DefaultErrno"] = s
	s = base()
	s.Rules[0].Syscalls = []string{"a", "bc"}
	changed["where strings split"] = s
	for _, v := range []reflect.Value{reflect.ValueOf(&base().Rules[0]).Elem(), reflect.ValueOf(&base().Rules[0].Args[0]).Elem()} {
		for i := 0; i < v.NumField(); i++ {
			s := base()
			target := reflect.ValueOf(&s.Rules[0]).Elem()
			if v.Type() == reflect.TypeOf(plan.SeccompArg{}) {
				target = reflect.ValueOf(&s.Rules[0].Args[0]).Elem()
			}
			f := target.Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Int, reflect.Int64:
				f.SetInt(f.Int() + 1)
			case reflect.Uint, reflect.Uint64:
				f.SetUint(f.Uint() + 1)
			case reflect.Slice:
				f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
			default:
				t.Fatalf("%s.%s: a %s the test does not change", v.Type(), v.Type().Field(i).Name, f.Kind())
			}
			changed[v.Type().String()+"."+v.Type().Field(i).Name] = s
		}
	}
	// The section's own fields are written one by one: one added to plan.Seccomp must be
	// put in the key and changed above (if Build reads it) or listed here (if it does not).
	// Rules is changed field by field above; Denies and the program are not Build's input.
	notRead := map[string]bool{"Rules": true, "Denies": true, "Program": true, "ProgramSHA256": true}
	st := reflect.TypeOf(plan.Seccomp{})
	for i := 0; i < st.NumField(); i++ {
		name := st.Field(i).Name
		if _, ok := changed[name]; !ok && !notRead[name] {
			t.Errorf("plan.Seccomp.%s: neither in programKey's test nor listed as what Build does not read", name)
		}
	}
	for what, s := range changed {
		if programKey(s) == want {
			t.Errorf("the key does not change with %s", what)
		}
	}
}
