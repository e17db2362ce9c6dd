package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestCheckVisiblePaths: the first invisible string is named by its field path, and a
// tab passes only in an element of Args or Env.
func TestCheckVisiblePaths(t *testing.T) {
	base := func() *plan.Plan {
		return &plan.Plan{Name: "p", Components: []plan.Component{{}, {
			Name:    "c",
			Process: plan.Process{Args: []string{"/bin/x", "a\tb"}, Env: []string{"K=a\tb"}, Cwd: "/"},
			Mounts:  []plan.Mount{{Target: "/a"}, {Target: "/b"}},
		}}}
	}
	if err := CheckVisible(base()); err != nil {
		t.Fatalf("tabs in Args and Env: %v", err)
	}
	for want, edit := range map[string]func(*plan.Plan){
		"Components[1].Process.Cwd: contains":      func(p *plan.Plan) { p.Components[1].Process.Cwd = "/\t" },
		"Components[1].Mounts[1].Target: contains": func(p *plan.Plan) { p.Components[1].Mounts[1].Target = "/b\x1b[2J" },
		"Components[1].Process.Args[0]: contains":  func(p *plan.Plan) { p.Components[1].Process.Args[0] = "/bin/\u202ex" },
		"Name: contains":                           func(p *plan.Plan) { p.Name = "p\x00" },
		"Components[0].Process.Env[0]: contains":   func(p *plan.Plan) { p.Components[0].Process.Env = []string{"K=\r"} },
	} {
		p := base()
		edit(p)
		err := CheckVisible(p)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got %v, want %q…", err, want)
		}
	}
	if err := CheckVisible("a\x07"); err == nil || !strings.HasPrefix(err.Error(), ": contains") {
		t.Errorf("a bare string: %v", err)
	}
}

func BenchmarkCheckVisible(b *testing.B) {
	p := &plan.Plan{Name: "p", Components: []plan.Component{{Name: "c"}}}
	for i := 0; i < 300; i++ {
		p.Components[0].Process.Args = append(p.Components[0].Process.Args, "arg")
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckVisible(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlainJSON: data whose strings can only be printable ASCII is plain, and every way
// a string could hold something else (an escape, a raw control character, a byte past
// ASCII) is not; a plain Plan decoded passes CheckVisible, and each refused rune below
// reaches a decoded string only through data that is not plain.
func TestPlainJSON(t *testing.T) {
	for in, want := range map[string]bool{
		"{\"name\": \"p\",\n\t\"components\": [{\"name\": \"c\"}]}\r\n": true,
		`{"name": "a/b c~!"}`:      true,
		`{"name": "p\u202ex"}`:     false, // an escaped bidi control
		`{"name": "p\tx"}`:         false, // an escaped tab
		`{"name": "p\\x"}`:         false,
		"{\"name\": \"p\u202ex\"}": false, // a raw one
		"{\"name\": \"p\x1bx\"}":   false,
		"{\"name\": \"p\u00a0x\"}": false,
		"{\"name\": \"p\x7fx\"}":   false,
		"{\"name\": \"p\xffx\"}":   false,
		"{\"name\": \"p\tx\"}":     true, // a raw tab in a string is no JSON: decoding refuses it
		"":                         true,
	} {
		if got := PlainJSON([]byte(in)); got != want {
			t.Errorf("PlainJSON(%q) = %v, want %v", in, got, want)
		}
		var p plan.Plan
		if json.Unmarshal([]byte(in), &p) == nil && PlainJSON([]byte(in)) {
			if err := CheckVisible(&p); err != nil {
				t.Errorf("%q is plain, but CheckVisible: %v", in, err)
			}
		}
	}
}
