package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// positions maps a field path to the position of its value in the source file.
type positions map[string]Pos

// at returns the position recorded for path, or the nearest recorded parent's.
func (p positions) at(path string) Pos {
	for {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// decoder walks yaml.Node trees into Go structs, strictly: unknown keys, duplicate keys,
// anchors and wrongly typed scalars are errors, each with a position, and decoding goes
// on after an error so that one load reports everything wrong in a file.
type decoder struct {
	file string
	errs ErrorList
	pos  positions
}

// nodeDecoder is implemented by types with a YAML shape of their own.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

func (d *decoder) posOf(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.Add(d.posOf(n), path, format, args...)
}

// visible reports whether scalar n holds visible text only, and otherwise adds the
// error at n. Every scalar and every mapping key goes through it, whatever its field.
func (d *decoder) visible(n *yaml.Node, path string, allowTab bool) bool {
	if msg := checkText(n.Value, allowTab); msg != "" {
		d.errorf(n, path, "%s", msg)
		return false
	}
	return true
}

// allowsTab reports whether the field at path may hold a tab: an argument or an
// environment value, which programs read as data. Everywhere else (names, paths,
// syscalls, ports, keys) a tab would only hide a difference.
func allowsTab(path string) bool {
	return strings.HasPrefix(path, "run.command[") || strings.HasPrefix(path, "run.env.")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode stores node n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	d.pos[path] = d.posOf(n)
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.errorf(n, path, "anchors and aliases are not supported; write the value out")
		return
	}
	if n.Kind == yaml.ScalarNode && !d.visible(n, path, allowsTab(path)) {
		// Refused. The field gets the text Go-quoted (`"mount\x00x"`), visible and valid
		// nowhere it matters, so nothing after load sees the invisible rune and what
		// validation says next stands at this field.
		n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: quote(n.Value), Line: n.Line, Column: n.Column}
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the zero value
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Pointer: // an optional scalar whose absence differs from its zero (run.exec)
		p := reflect.New(v.Type().Elem())
		d.decodeScalar(n, p.Elem(), path)
		v.Set(p)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	fields := map[string]int{}
	var names []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "expected a key name, found %s", describe(k))
			continue
		}
		if !d.visible(k, path, false) {
			continue
		}
		key := k.Value
		if seen[key] {
			d.errorf(k, join(path, key), "key %q appears twice", key)
			continue
		}
		seen[key] = true
		idx, ok := fields[key]
		if !ok {
			d.errorf(k, join(path, key), "unknown key %q%s; expected one of: %s", key, suggest(key, names), strings.Join(names, ", "))
			continue
		}
		d.decode(val, v.Field(idx), join(path, key))
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, found %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "expected a key name, found %s", describe(k))
			continue
		}
		if !d.visible(k, path, false) {
			continue
		}
		kp := join(path, k.Value)
		if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
			d.errorf(k, kp, "key %q appears twice", k.Value)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, kp)
		m.SetMapIndex(reflect.ValueOf(k.Value), elem)
	}
	v.Set(m)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, found %s", kindName(v.Kind()), describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if n.Tag != "!!int" || err != nil {
			d.errorf(n, path, "expected an integer, found %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Tag != "!!bool" || err != nil {
			d.errorf(n, path, "expected true or false, found %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.errorf(n, path, "expected a number, found %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "bug: no decoder for %s", v.Kind())
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return k.String()
}

// describe names what a node is, for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return excerpt(n.Value)
}

// decodeNode lets a syscall rule be a bare name ("read", "@network-io") or a mapping.
func (r *SyscallRule) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		r.Names = []string{n.Value}
		d.pos[path+".names[0]"] = d.posOf(n)
		return
	}
	type plain SyscallRule // no decodeNode: decode as a struct
	var p plain
	d.decodeStruct(n, reflect.ValueOf(&p).Elem(), path)
	*r = SyscallRule(p)
	if len(r.Names) == 0 {
		d.errorf(n, path, "expected names: a list of syscall names or @groups")
	}
}
