package policy

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// member is a component of a test stack: it listens on 9000/tcp for from, connects to to.
func member(name, extra string, from, to []string) string {
	src := "version: 1\nname: " + name + "\nrun:\n  command: [/app/x]\n" + extra + "filesystem: {read: [/app]}\nsyscalls: {extends: default}\nnetwork:\n"
	if len(from) > 0 {
		src += "  listen: [{port: 9000/tcp, from: [" + strings.Join(from, ", ") + "]}]\n"
	}
	var conns []string
	for _, t := range to {
		conns = append(conns, "{to: \""+t+":9000/tcp\"}")
	}
	if len(conns) > 0 {
		src += "  connect: [" + strings.Join(conns, ", ") + "]\n"
	}
	return src
}

func TestStartOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"stack.yaml": {Data: []byte("version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [web.yaml, api.yaml, db.yaml, jobs.yaml]\n")},
		// web → api → db by flows; jobs runs after web by depends_on only.
		"web.yaml":  {Data: []byte(member("web", "", nil, []string{"api"}))},
		"api.yaml":  {Data: []byte(member("api", "", []string{"web"}, []string{"db"}))},
		"db.yaml":   {Data: []byte(member("db", "", []string{"api"}, nil))},
		"jobs.yaml": {Data: []byte(member("jobs", "  depends_on: [web]\n", nil, nil))},
	}
	s, err := Open(fsys, "stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"db", "api", "web", "jobs"}; !slices.Equal(p.StartOrder, want) {
		t.Errorf("start order %v, want %v", p.StartOrder, want)
	}
}

func TestDependsOnCycle(t *testing.T) {
	fsys := fstest.MapFS{
		"stack.yaml": {Data: []byte("version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [a.yaml, b.yaml]\n")},
		"a.yaml":     {Data: []byte(member("a", "  depends_on: [b]\n", nil, nil))},
		"b.yaml":     {Data: []byte(member("b", "  depends_on: [a, c]\n", nil, nil))},
	}
	got := Check(fsys, "stack.yaml").Error()
	for _, want := range []string{
		`b.yaml:5:19: run.depends_on[1]: unknown component "c"; the stack has: a, b`,
		"a.yaml:5:15: run.depends_on: depends_on has a cycle: a → b → a",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
