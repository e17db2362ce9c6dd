package plancache

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/tree"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestAhead: init's look-up gives the Plan kept for the file run names, once; nothing
// for a file with none kept.
func TestAhead(t *testing.T) {
	testenv.Require(t, testenv.Root) // kept Plans are root's
	t.Setenv(EnvDir, filepath.Join(t.TempDir(), "plans"))
	dir := t.TempDir()
	file, other := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	src := "version: 1\nname: a\nrun: {command: [/true]}\nfilesystem: {read: [/true]}\nsyscalls: {extends: default}\n"
	for _, f := range []string{file, other} {
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := tree.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rec := NewRecorder(tr)
	s, err := policy.Open(rec, file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	Open().Keep(file, rec, want)

	start([]string{"confine", "run", file})
	if p, ok := Ahead(file); !ok || !reflect.DeepEqual(p, want) {
		t.Errorf("Ahead(%s) = %v, %v; want the kept Plan", file, p, ok)
	}
	if _, ok := Ahead(file); ok {
		t.Error("a second Ahead gave the Plan again")
	}
	start([]string{"confine", "run", other})
	if p, ok := Ahead(other); ok {
		t.Errorf("Ahead of a file with no Plan kept = %v", p)
	}
	start([]string{"confine", "run", file})
	if _, ok := Ahead(other); ok {
		t.Error("Ahead of another file than run names gave a Plan")
	}
}
