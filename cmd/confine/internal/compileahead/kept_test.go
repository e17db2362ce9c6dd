package compileahead

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// testCache is a cache in a directory of the test's, owned by whoever runs it, and its
// directory.
func testCache(t *testing.T) (*plancache.Cache, string) {
	dir := filepath.Join(t.TempDir(), "plans")
	c := plancache.At(dir)
	if c == nil {
		t.Fatal("no cache")
	}
	return c, dir
}

// fresh is file compiled as every command compiles it, without kept Plans.
func fresh(t *testing.T, file string) (*plan.Plan, error) {
	t.Helper()
	return Compile(file, nil, nil)
}

// taken is the Plan c keeps for file, or nil.
func taken(t *testing.T, c *plancache.Cache, file string) *plan.Plan {
	t.Helper()
	tree, err := policy.OpenTree(file)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	return c.Take(tree, file)
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	return names
}

// policies are the example and test policies of the tree, by their path from here.
func policies(t *testing.T) []string {
	var files []string
	for _, dir := range []string{"examples", "audit/diff/testdata", "learn/testdata", "policy/testdata"} {
		filepath.WalkDir(filepath.Join("../../../..", dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) < 20 {
		t.Fatalf("found %d policies, want the tree's", len(files))
	}
	return files
}

// TestSamePlan: for every policy of examples/ and the testdata, the Plan a later compile
// takes from the cache is the one a fresh compile gives; a policy with errors, and one
// with run.image, are not kept.
func TestSamePlan(t *testing.T) {
	c, _ := testCache(t)
	kept := 0
	for _, file := range policies(t) {
		want, err := fresh(t, file)
		got, gerr := CompileKept(c, file, nil, nil)
		if (err == nil) != (gerr == nil) || err != nil && err.Error() != gerr.Error() {
			t.Errorf("%s: compiled through the cache: %v; without: %v", file, gerr, err)
		}
		if err != nil {
			if p := taken(t, c, file); p != nil {
				t.Errorf("%s: a policy with errors was kept", file)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the first compile through the cache differs from a fresh one", file)
		}
		p := taken(t, c, file)
		if p == nil {
			t.Errorf("%s: nothing kept", file)
			continue
		}
		kept++
		if !reflect.DeepEqual(p, want) {
			t.Errorf("%s: the kept Plan differs from a fresh compile: %s", file, differences(p, want))
		}
		if again, err := CompileKept(c, file, nil, nil); err != nil || !reflect.DeepEqual(again, want) {
			t.Errorf("%s: a compile that takes the kept Plan: %v, or another Plan", file, err)
		}
	}
	if kept < 15 {
		t.Errorf("kept %d Plans, want every policy that compiles", kept)
	}
}

// differences names the fields where a and b differ, nil and empty told apart, as
// reflect.DeepEqual tells them.
func differences(a, b any) []string {
	var out []string
	var walk func(path string, x, y reflect.Value)
	walk = func(path string, x, y reflect.Value) {
		switch {
		case len(out) > 10:
		case x.Kind() == reflect.Pointer:
			if x.IsNil() != y.IsNil() {
				out = append(out, path+": nil on one side")
			} else if !x.IsNil() {
				walk(path, x.Elem(), y.Elem())
			}
		case x.Kind() == reflect.Struct:
			for i := range x.NumField() {
				walk(path+"."+x.Type().Field(i).Name, x.Field(i), y.Field(i))
			}
		case x.Kind() == reflect.Slice && x.IsNil() != y.IsNil():
			out = append(out, fmt.Sprintf("%s: nil on one side (lengths %d, %d)", path, x.Len(), y.Len()))
		case x.Kind() == reflect.Slice && x.Type().Elem().Kind() != reflect.Uint8 && x.Len() == y.Len():
			for i := range x.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), x.Index(i), y.Index(i))
			}
		case !reflect.DeepEqual(x.Interface(), y.Interface()):
			out = append(out, path)
		}
	}
	walk("", reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

func writeAt(t *testing.T, file, text string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces file's text with one of the same length and gives it back its
// modification time: only its content tells the two apart.
func rewrite(t *testing.T, file, old, new string) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if len(old) != len(new) || !strings.Contains(string(data), old) {
		t.Fatalf("rewrite %s: %q is not in it, or %q is of another length", file, old, new)
	}
	writeAt(t, file, strings.Replace(string(data), old, new, 1))
	if err := os.Chtimes(file, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(file); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("the rewritten file's size or time differs")
	}
}

const one = "version: 1\nname: one\nrun: {command: [/true]}\nfilesystem: {read: [/true]}\nsyscalls: {extends: default}\nresources: {pids: 16}\n"

// TestChangedFile: a policy changed since its Plan was kept, to the same size and
// modification time, compiles anew; so does a stack whose component file alone changed.
func TestChangedFile(t *testing.T) {
	c, _ := testCache(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "one.yaml")
	writeAt(t, file, one)
	check := func(what, file string) {
		t.Helper()
		want, err := fresh(t, file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CompileKept(c, file, nil, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v; the Plan differs from a fresh compile: %s", what, err, differences(got, want))
		}
	}
	check("first", file)
	rewrite(t, file, "pids: 16", "pids: 17")
	check("changed", file)
	if p := taken(t, c, file); p == nil || p.Components[0].Cgroup.PidsMax != 17 {
		t.Errorf("after the change the kept Plan is %v, want the new one's", p)
	}

	stack := filepath.Join(dir, "stack.yaml")
	writeAt(t, stack, "version: 1\nname: st\nsubnet: 10.88.7.0/24\ncomponents: [one.yaml, two.yaml]\n")
	writeAt(t, filepath.Join(dir, "two.yaml"), strings.ReplaceAll(one, "one", "two"))
	check("stack", stack)
	rewrite(t, filepath.Join(dir, "two.yaml"), "pids: 16", "pids: 18")
	check("stack, a component changed", stack)
	if p := taken(t, c, stack); p == nil || p.Components[1].Cgroup.PidsMax != 18 {
		t.Errorf("after the change the kept stack Plan is %v, want the new one's", p)
	}
	os.Remove(filepath.Join(dir, "two.yaml"))
	if p := taken(t, c, stack); p != nil {
		t.Error("a stack whose component file is gone was taken from the cache")
	}
	if _, err := CompileKept(c, stack, nil, nil); err == nil {
		t.Error("a stack whose component file is gone compiled")
	}
}

// TestWorkingDirectory: a relative bind source is absolute in the Plan, from the working
// directory: the same file named the same way from another directory compiles anew.
func TestWorkingDirectory(t *testing.T) {
	c, _ := testCache(t)
	a, b := t.TempDir(), t.TempDir()
	src := strings.Replace(one, "filesystem: {read: [/true]}", "filesystem: {read: [/true], bind: [{source: data, target: /data}]}", 1)
	for _, d := range []string{a, b} {
		writeAt(t, filepath.Join(d, "one.yaml"), src)
	}
	for _, d := range []string{a, b, a} {
		t.Chdir(d)
		p, err := CompileKept(c, "one.yaml", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range p.Components[0].Mounts {
			found = found || m.Source == filepath.Join(d, "data")
		}
		if !found {
			t.Errorf("from %s: the Plan binds no %s: %+v", d, filepath.Join(d, "data"), p.Components[0].Mounts)
		}
	}
}

type images struct{ facts policy.ImageFacts }

func (i *images) ResolveImage(string) (*policy.ImageFacts, error) { return &i.facts, nil }

// TestNotKept: a Plan whose compile asked the image store through a resolver that cannot
// name the store is not kept; nor is one when the cache is off.
func TestNotKept(t *testing.T) {
	c, cdir := testCache(t)
	file := filepath.Join(t.TempDir(), "img.yaml")
	writeAt(t, file, "version: 1\nname: img\nrun: {image: \"alpine:3\"}\nsyscalls: {extends: default}\n")
	r := &images{policy.ImageFacts{Digest: "sha256:" + strings.Repeat("a", 64), ConfigDigest: "sha256:" + strings.Repeat("b", 64), Cmd: []string{"/bin/sh"}}}
	if _, err := CompileKept(c, file, r, nil); err != nil {
		t.Fatal(err)
	}
	if n := entries(t, cdir); len(n) != 0 {
		t.Errorf("a Plan of an image was kept: %v", n)
	}
	for _, env := range []string{plancache.EnvDir, progcache.EnvDir} {
		t.Setenv(env, "off")
		if plancache.Open() != nil {
			t.Errorf("%s=off gave a cache", env)
		}
		t.Setenv(env, "")
	}
}

// TestDamagedEntries: an entry cut short, changed, holding another key, that others may
// write, that is a symlink, or in a directory others may enter is not taken; the policy
// compiles as before.
func TestDamagedEntries(t *testing.T) {
	c, cdir := testCache(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "one.yaml")
	writeAt(t, file, one)
	want, err := fresh(t, file)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.yaml")
	writeAt(t, other, strings.Replace(one, "pids: 16", "pids: 99", 1))
	CompileKept(c, other, nil, nil)
	before := entries(t, cdir)
	CompileKept(c, file, nil, nil)
	after := entries(t, cdir)
	if len(before) != 1 || len(after) != 2 {
		t.Fatalf("kept %v, then %v; want one entry, then two", before, after)
	}
	entry := after[0]
	if entry == before[0] {
		entry = after[1]
	}
	good, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	otherEntry, _ := os.ReadFile(before[0])
	// The Plan of pids 61, which decodes: only the checksum tells.
	flipped := bytes.Replace(good, []byte(`"pids_max":16`), []byte(`"pids_max":61`), 1)
	if bytes.Equal(flipped, good) {
		t.Fatal("no pids_max in the entry")
	}
	for _, d := range []struct {
		name  string
		data  []byte
		setup func()
	}{
		{"cut short", good[:len(good)-1], nil},
		{"cut in its header", good[:24], nil},
		{"empty", nil, nil},
		{"a byte changed", flipped, nil},
		{"another key's", otherEntry, nil},
		{"writable by others", good, func() { os.Chmod(entry, 0o622) }},
		{"a symlink", nil, func() {
			os.Remove(entry)
			os.WriteFile(entry+".real", good, 0o600)
			os.Symlink(entry+".real", entry)
		}},
		{"in an open directory", good, func() { os.Chmod(cdir, 0o755) }},
	} {
		os.Remove(entry)
		os.WriteFile(entry, d.data, 0o600)
		if d.setup != nil {
			d.setup()
		}
		if p := taken(t, c, file); p != nil {
			t.Errorf("an entry %s was taken", d.name)
		}
		if p, err := CompileKept(c, file, nil, nil); err != nil || !reflect.DeepEqual(p, want) {
			t.Errorf("with an entry %s: %v, or a Plan other than a fresh compile's", d.name, err)
		}
		os.Chmod(cdir, 0o700)
		os.Remove(entry + ".real")
	}
	if p := taken(t, c, file); p == nil {
		t.Error("the last compile kept no Plan again")
	}
	if os.Geteuid() == 0 {
		os.Chown(entry, 1000, 1000)
		if p := taken(t, c, file); p != nil {
			t.Error("an entry of another user was taken")
		}
	}
}
