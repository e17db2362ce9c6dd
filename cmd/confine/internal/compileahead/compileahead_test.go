package compileahead

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/policy"
)

func TestPolicyArg(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		at   storeAt
	}{
		{[]string{"confine", "run", "api.yaml"}, "api.yaml", storeAt{}},
		{[]string{"confine", "run", "api.yaml", "--", "x"}, "api.yaml", storeAt{}},
		{[]string{"confine", "run", "--component", "web", "stack.yaml"}, "", storeAt{}}, // left to cobra
		{[]string{"confine", "run", "--plan", "p.json"}, "", storeAt{}},
		{[]string{"confine", "run", ""}, "", storeAt{}},
		{[]string{"confine", "check", "api.yaml"}, "", storeAt{}},
		{[]string{"confine", "run"}, "", storeAt{}},
		{[]string{"confine", "--store", "/s", "run", "api.yaml"}, "api.yaml", storeAt{dir: "/s", flag: true}},
		{[]string{"confine", "--store=/s", "run", "api.yaml", "--", "x"}, "api.yaml", storeAt{dir: "/s", flag: true}},
		{[]string{"confine", "--store", "/s", "check", "api.yaml"}, "", storeAt{}},
		{[]string{"confine", "--store", "run", "api.yaml"}, "", storeAt{}}, // the store is "run"
		{[]string{"confine", "--store", "-x", "run", "api.yaml"}, "", storeAt{}},
		{[]string{"confine", "--store=", "run", "api.yaml"}, "", storeAt{}},
		// Which --store cobra takes is left to it: no image store ahead.
		{[]string{"confine", "run", "api.yaml", "--store", "/s"}, "api.yaml", storeAt{unsure: true}},
		{[]string{"confine", "--store", "/a", "run", "api.yaml", "--store=/b"}, "api.yaml", storeAt{dir: "/a", flag: true, unsure: true}},
	} {
		if got, at := policyArg(c.args); got != c.want || at != c.at {
			t.Errorf("policyArg(%q) = %q, %+v; want %q, %+v", c.args, got, at, c.want, c.at)
		}
	}
}

func write(t *testing.T, name, text string) string {
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

const good = "version: 1\nname: x\nrun: {command: [/true]}\nfilesystem: {read: [/true]}\nsyscalls: {extends: default}\n"

// TestTake: the Plan compiled ahead is the one compiling the file gives, once.
func TestTake(t *testing.T) {
	file := write(t, "x.yaml", good)
	start([]string{"confine", "run", file})
	p, ok := Take(file)
	if !ok {
		t.Fatal("Take found no Plan compiled ahead")
	}
	tree, err := policy.OpenTree(file)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	s, err := policy.Open(tree, file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := policy.Compile(s)
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("the Plan compiled ahead differs from compiling the file (%v)", err)
	}
	if _, ok := Take(file); ok {
		t.Error("a second Take got the same Plan again")
	}
}

// TestTakeRefuses: nothing compiled ahead is used for another file, for a policy that
// does not compile (run lists its errors), or for one with run.image (which needs the
// image store run gives it).
func TestTakeRefuses(t *testing.T) {
	file := write(t, "x.yaml", good)
	start([]string{"confine", "run", file})
	if _, ok := Take(file + ".other"); ok {
		t.Error("Take of another file used the Plan compiled ahead")
	}
	for name, text := range map[string]string{
		"bad.yaml":   "version: 1\nname: x\nrun: {command: [/true]}\nsyscalls: {extends: nosuch}\n",
		"image.yaml": "version: 1\nname: x\nrun: {image: alpine:3}\n",
	} {
		file := write(t, name, text)
		start([]string{"confine", "run", file})
		if p, ok := Take(file); ok {
			t.Errorf("%s: Take = %v", name, p)
		}
	}
}

// TestNoFIFO: a FIFO named as the policy is not opened ahead (run reads it once).
func TestNoFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() {
		start([]string{"confine", "run", fifo})
		_, ok := Take(fifo)
		done <- ok
	}()
	select {
	case ok := <-done:
		if ok {
			t.Error("Take of a FIFO found a Plan")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("start blocked on a FIFO")
	}
}
