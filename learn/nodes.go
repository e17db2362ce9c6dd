package learn

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The learned policy is written as a yaml.Node tree, so that the base policy's own
// keys, order and comments stay as they were, and comments can stand beside entries.

// parseMapping decodes one YAML document that must be a mapping.
func parseMapping(data []byte, name string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: expected a policy mapping", name)
	}
	return doc.Content[0], nil
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// set replaces key's value in m, or appends the key.
func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

// del removes key from m.
func del(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// child returns the mapping under key, creating it when absent.
func child(m *yaml.Node, key string) *yaml.Node {
	if v := get(m, key); v != nil && v.Kind == yaml.MappingNode {
		return v
	}
	v := mapping()
	set(m, key, v)
	return v
}

// items returns the entries of the sequence under key (nil when absent or not a list).
func items(m *yaml.Node, key string) []*yaml.Node {
	if v := get(m, key); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}

// scalar is a plain scalar where YAML reads it back as the same string, quoted where not.
func scalar(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: s}
	var back string
	if err := yaml.Unmarshal([]byte(s), &back); err != nil || back != s || strings.ContainsAny(s, "#'\"\n") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func intScalar(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(n)}
}

func mapping(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }

func seq(items ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Content: items} }

func flowSeq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: items}
}

// setOrDrop sets key to a sequence of entries, or removes the key when there are none.
func setOrDrop(m *yaml.Node, key string, entries []*yaml.Node) {
	if len(entries) == 0 {
		del(m, key)
		return
	}
	set(m, key, seq(entries...))
}

// canon is a node's value as canonical JSON, to compare entries written differently
// (flow or block style, quoted or not).
func canon(n *yaml.Node) string {
	var v any
	if err := n.Decode(&v); err != nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// entryPath is the path of a filesystem entry: the scalar, or the path key of a mapping.
func entryPath(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	if p := get(n, "path"); p != nil {
		return p.Value
	}
	return ""
}

// clone copies a node tree deeply, so that edits to the copy leave the original alone.
func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = clone(k)
	}
	return &c
}

// commented sets a node's line comment (yaml.v3 adds the "# ").
func commented(n *yaml.Node, note string) *yaml.Node {
	if note != "" {
		n.LineComment = note
	}
	return n
}
