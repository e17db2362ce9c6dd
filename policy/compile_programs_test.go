//go:build cgo

package policy

import (
	"bytes"
	"testing"
	"testing/fstest"
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
