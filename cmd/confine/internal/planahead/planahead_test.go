package planahead

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
)

func TestPlanArg(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"confine", "run", "--plan", "p.json"}, "p.json"},
		{[]string{"confine", "run", "--timeout", "5s", "--plan", "p.json", "--", "x"}, "p.json"},
		{[]string{"confine", "run", "--plan=p.json"}, "p.json"},
		{[]string{"confine", "run", "--", "--plan", "p.json"}, ""}, // the component's own args
		{[]string{"confine", "run", "--plan"}, ""},
		{[]string{"confine", "run", "policy.yaml"}, ""},
		{[]string{"confine", "audit", "diff", "--plan", "p.json"}, ""},
		{[]string{"confine"}, ""},
	} {
		if got := planArg(c.args); got != c.want {
			t.Errorf("planArg(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// writePlan writes a small valid Plan and returns its file and bytes.
func writePlan(t *testing.T) (string, []byte) {
	data := []byte(`{"version": 1, "name": "x", "single": true, "components": [{"name": "x", "process": {"args": ["/true"]}}]}`)
	file := filepath.Join(t.TempDir(), "x.plan.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, data
}

func TestTake(t *testing.T) {
	file, data := writePlan(t)
	start([]string{"confine", "run", "--plan", file})
	p, ok, err := Take(file, data)
	want, _ := Decode(data)
	if !ok || err != nil || !reflect.DeepEqual(p, want) {
		t.Fatalf("Take = %v, %v, %v; want the Plan decoded from the file", p, err, ok)
	}
	if _, ok, _ := Take(file, data); ok {
		t.Error("a second Take got the same decode again")
	}
}

// TestTakeRefuses: the decode ahead is used only for the file and the very bytes
// readPlan read.
func TestTakeRefuses(t *testing.T) {
	file, data := writePlan(t)
	start([]string{"confine", "run", "--plan", file})
	if _, ok, _ := Take(file+".other", data); ok {
		t.Error("Take of another file used the decode ahead")
	}
	start([]string{"confine", "run", "--plan", file})
	changed := []byte(strings.Replace(string(data), `"x"`, `"y"`, 1))
	if p, ok, _ := Take(file, changed); ok {
		t.Errorf("Take of other bytes used the decode ahead: %v", p)
	}
}

// TestTakeError: a Plan that does not decode gives the error Decode gives.
func TestTakeError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.json")
	data := []byte(`{"version": 1, "surprise": true}`)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	start([]string{"confine", "run", "--plan", file})
	_, ok, err := Take(file, data)
	_, want := Decode(data)
	if !ok || err == nil || want == nil || err.Error() != want.Error() {
		t.Fatalf("Take = %v, %v; want Decode's error %v", err, ok, want)
	}
}

// TestReadRegular: only a regular file is read ahead; a FIFO is neither read nor
// waited on, and a symlink, a directory, a device and a file too large are left alone.
func TestReadRegular(t *testing.T) {
	dir := t.TempDir()
	file, data := writePlan(t)
	if got := readRegular(file); string(got) != string(data) {
		t.Errorf("readRegular(regular) = %q", got)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxSize+1); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{fifo, link, dir, os.DevNull, big, filepath.Join(dir, "missing")} {
		done := make(chan []byte)
		go func() { done <- readRegular(name) }()
		select {
		case got := <-done:
			if got != nil {
				t.Errorf("readRegular(%s) read %d bytes", name, len(got))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("readRegular(%s) blocked", name)
		}
	}
}

// TestDecodeStrict: Decode refuses a field the Plan does not have.
func TestDecodeStrict(t *testing.T) {
	if _, err := Decode([]byte(`{"version": 1, "components": [{"name": "x", "seccomp": {"programme": ""}}]}`)); err == nil || !strings.Contains(err.Error(), "programme") {
		t.Errorf("Decode of an unknown field: %v", err)
	}
	var p *plan.Plan
	if p, _ = Decode([]byte(`{"version": 1}`)); p == nil || p.Version != 1 {
		t.Errorf("Decode = %v", p)
	}
}
