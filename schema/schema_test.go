package schema

import (
	"encoding/json"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/syndtr/gocapability/capability"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/profiles"
)

const (
	policyFile = "policy.schema.json"
	stackFile  = "stack.schema.json"
	draft      = "https://json-schema.org/draft/2020-12/schema"
)

// node is a decoded JSON Schema (sub)document.
type node = map[string]any

func load(t *testing.T, name string) node {
	t.Helper()
	data, err := FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var doc node
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if doc["$schema"] != draft {
		t.Errorf("%s: $schema is %v, want %s", name, doc["$schema"], draft)
	}
	return doc
}

func TestParses(t *testing.T) {
	names, err := fs.Glob(FS, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{policyFile, stackFile}) {
		t.Errorf("embedded schemas: %v", names)
	}
	for _, n := range names {
		load(t, n)
	}
}

// schemaWalker compares a schema with the Go type the loader decodes into.
type schemaWalker struct {
	t    *testing.T
	file string
	root node
}

// resolve follows local "$ref"s ("#/$defs/NAME").
func (w *schemaWalker) resolve(n node, path string) node {
	for i := 0; i < 16; i++ {
		ref, ok := n["$ref"].(string)
		if !ok {
			return n
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := w.root["$defs"].(node)
		target, found := defs[name].(node)
		if !ok || !found {
			w.t.Fatalf("%s: %s: unresolvable $ref %q", w.file, path, ref)
		}
		n = target
	}
	w.t.Fatalf("%s: %s: $ref loop", w.file, path)
	return nil
}

// withKey returns the schemas, among n and its oneOf/anyOf/allOf branches, that have key.
func (w *schemaWalker) withKey(n node, key, path string) []node {
	n = w.resolve(n, path)
	if _, ok := n[key]; ok {
		return []node{n}
	}
	var out []node
	for _, comb := range []string{"oneOf", "anyOf", "allOf"} {
		branches, _ := n[comb].([]any)
		for _, b := range branches {
			if bn, ok := b.(node); ok {
				out = append(out, w.withKey(bn, key, path)...)
			}
		}
	}
	return out
}

func (w *schemaWalker) one(n node, key, path string) node {
	found := w.withKey(n, key, path)
	if len(found) != 1 {
		w.t.Errorf("%s: %s: want exactly one schema with %q, found %d", w.file, path, key, len(found))
		return nil
	}
	return found[0]
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) reflect.StructField {
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == tag {
			return t.Field(i)
		}
	}
	panic("no field " + tag)
}

// walk checks that n describes typ: a struct's schema is an object with
// additionalProperties false whose properties are exactly its yaml keys, recursively.
func (w *schemaWalker) walk(n node, typ reflect.Type, path string) {
	if n == nil {
		return
	}
	switch typ.Kind() {
	case reflect.Pointer:
		w.walk(n, typ.Elem(), path)
	case reflect.Struct:
		obj := w.one(n, "properties", path)
		if obj == nil {
			return
		}
		if obj["additionalProperties"] != false {
			w.t.Errorf("%s: %s: additionalProperties is %v, want false (the loader rejects unknown keys)", w.file, path, obj["additionalProperties"])
		}
		props, _ := obj["properties"].(node)
		var got []string
		for k := range props {
			got = append(got, k)
		}
		want := yamlKeys(typ)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			w.t.Errorf("%s: %s: schema properties %v, %s has yaml keys %v", w.file, path, got, typ, want)
		}
		for _, k := range want {
			p, ok := props[k].(node)
			if !ok {
				continue
			}
			if _, ok := p["description"]; !ok {
				w.t.Errorf("%s: %s: property %q has no description", w.file, path, k)
			}
			w.walk(p, fieldByTag(typ, k).Type, strings.TrimPrefix(path+"."+k, "."))
		}
	case reflect.Slice:
		arr := w.one(n, "items", path)
		if arr == nil {
			return
		}
		if arr["type"] != "array" {
			w.t.Errorf("%s: %s: type is %v, want array", w.file, path, arr["type"])
		}
		items, _ := arr["items"].(node)
		w.walk(items, typ.Elem(), path+"[]")
	case reflect.Map:
		m := w.one(n, "additionalProperties", path)
		if m == nil {
			return
		}
		if _, ok := m["additionalProperties"].(node); !ok {
			w.t.Errorf("%s: %s: a map needs an additionalProperties schema for its values", w.file, path)
			return
		}
		w.walk(m["additionalProperties"].(node), typ.Elem(), path+".*")
	}
}

// TestKeysMatchLoader holds the schemas to policy.Component and policy.Stack: the same
// keys at every level, so the schema cannot drift from what the loader accepts.
func TestKeysMatchLoader(t *testing.T) {
	for _, c := range []struct {
		file string
		typ  reflect.Type
	}{
		{policyFile, reflect.TypeFor[policy.Component]()},
		{stackFile, reflect.TypeFor[policy.Stack]()},
	} {
		doc := load(t, c.file)
		w := &schemaWalker{t: t, file: c.file, root: doc}
		w.walk(doc, c.typ, "")
	}
	// The walk reaches the syscall rule and argument schemas only through oneOf; make
	// sure it did, for both allow and deny.
	doc := load(t, policyFile)
	w := &schemaWalker{t: t, file: policyFile, root: doc}
	rule := reflect.TypeFor[policy.SyscallRule]()
	for _, list := range []string{"allowEntry", "denyEntry"} {
		entry := doc["$defs"].(node)[list].(node)
		w.walk(entry, rule, list)
		if len(w.withKey(entry, "pattern", list))+len(w.withKey(entry, "anyOf", list)) == 0 {
			t.Errorf("%s: %s: no string branch for a bare syscall name", policyFile, list)
		}
	}
}

// enumOf returns the sorted enum of $defs[def], or of the anyOf branch that has one.
func enumOf(t *testing.T, doc node, def string) []string {
	t.Helper()
	d, ok := doc["$defs"].(node)[def].(node)
	if !ok {
		t.Fatalf("%s: no $defs.%s", policyFile, def)
	}
	var src []any
	if e, ok := d["enum"].([]any); ok {
		src = e
	} else {
		for _, b := range d["anyOf"].([]any) {
			if e, ok := b.(node)["enum"].([]any); ok {
				src = e
			}
		}
	}
	var out []string
	for _, v := range src {
		out = append(out, v.(string))
	}
	sort.Strings(out)
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// TestEnumsMatchLoader holds the schema's closed lists to the lists the validator uses.
func TestEnumsMatchLoader(t *testing.T) {
	doc := load(t, policyFile)

	if got, want := enumOf(t, doc, "syscallName"), policy.GroupNames(); !slices.Equal(got, want) {
		t.Errorf("syscall groups: schema %v, profiles/syscall_groups.yaml %v", got, want)
	}

	files, err := fs.Glob(profiles.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var profileNames []string
	for _, f := range files {
		if f != profiles.GroupsFile {
			profileNames = append(profileNames, strings.TrimSuffix(f, ".yaml"))
		}
	}
	if got, want := enumOf(t, doc, "profile"), sortedCopy(profileNames); !slices.Equal(got, want) {
		t.Errorf("profiles: schema %v, profiles/ %v", got, want)
	}

	var caps []string
	for _, c := range capability.List() {
		caps = append(caps, strings.ToUpper(c.String()))
	}
	if got, want := enumOf(t, doc, "capability"), sortedCopy(caps); !slices.Equal(got, want) {
		t.Errorf("capabilities: schema %v, gocapability %v", got, want)
	}

	be := doc["properties"].(node)["best_effort"].(node)["items"].(node)["enum"].([]any)
	var mechs []string
	for _, m := range be {
		mechs = append(mechs, m.(string))
	}
	if got, want := sortedCopy(mechs), sortedCopy(policy.Mechanisms); !slices.Equal(got, want) {
		t.Errorf("best_effort: schema %v, policy.Mechanisms %v", got, want)
	}
}

// pattern compiles the pattern of the schema reached from doc through keys.
func pattern(t *testing.T, doc node, keys ...string) *regexp.Regexp {
	t.Helper()
	var cur any = doc
	for _, k := range keys {
		cur = cur.(node)[k]
	}
	p, ok := cur.(node)["pattern"].(string)
	if !ok {
		t.Fatalf("no pattern at %v", keys)
	}
	return regexp.MustCompile(p)
}

// TestPatternsNotStricterThanParsers checks, on samples, that every string the loader
// accepts also matches the schema's pattern (the schema may be looser: port numbers above
// 65535, for one, match the pattern and fail validation).
func TestPatternsNotStricterThanParsers(t *testing.T) {
	doc := load(t, policyFile)
	stack := load(t, stackFile)
	cases := []struct {
		name    string
		re      *regexp.Regexp
		parse   func(string) error
		samples []string
	}{
		{"ports", pattern(t, doc, "$defs", "ports"),
			func(s string) error { _, err := policy.ParsePorts(s); return err },
			[]string{"8080/tcp", "5000-5010/udp", "1/udp", "65535/tcp", "8080", "8080/sctp", "80-/tcp", "tcp/80", " 80/tcp"}},
		{"size", pattern(t, doc, "$defs", "size"),
			func(s string) error { _, err := policy.ParseSize(s); return err },
			[]string{"256Mi", "1Gi", "500M", "1.5Gi", ".5Ti", "2000000", "10k", "1e6", "256MB", "-1Mi", "Mi", "0x100000"}},
		{"user", pattern(t, doc, "properties", "run", "properties", "user"),
			func(s string) error { _, err := policy.ParseUser(s); return err },
			[]string{"1000", "1000:1000", "0:0", "alice", "alice:staff", "1000:ssl-cert", "Alice", "1000:", ":1000", "-1", "1000:1000:1000"}},
		{"peer", pattern(t, doc, "$defs", "peer"),
			func(s string) error { _, err := policy.ParsePeer(s); return err },
			[]string{"host", "frontend", "a-b-1", "10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "[fd00::/8]", "Frontend", "-a", "10.0.0.1/8", "name_x"}},
		{"endpoint", pattern(t, doc, "$defs", "endpoint"),
			func(s string) error { _, err := policy.ParseEndpoint(s); return err },
			[]string{"ledger:9000/tcp", "127.0.0.1:5432/tcp", "10.0.0.0/8:443/tcp", "[::1]:53/udp", "[fd00::/8]:443/tcp", "ledger:5000-5010/udp", "::1:53/udp", "ledger", "ledger:9000", "Ledger:9000/tcp"}},
		{"publish", pattern(t, stack, "properties", "publish", "items"),
			func(s string) error { _, err := policy.ParsePublish(s); return err },
			[]string{"127.0.0.1:8080 -> frontend:8080/tcp", "127.0.0.1:8080->frontend:8080/tcp", "[::1]:53 -> dns:53/udp", "127.0.0.1 -> frontend:8080/tcp", "127.0.0.1:8080 -> 10.0.0.1:8080/tcp", "127.0.0.1:8080 frontend:8080/tcp"}},
	}
	for _, c := range cases {
		for _, s := range c.samples {
			if c.parse(s) == nil && !c.re.MatchString(s) {
				t.Errorf("%s: the loader accepts %q but the schema's pattern %s does not", c.name, s, c.re)
			}
		}
	}
}
