package policy

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// Limits on what one load reads, so that a hostile file costs a bounded parse and a
// bounded validation. docs/policy.md lists them; BenchmarkLimits loads the largest input
// they accept.
const (
	maxFileSize  = 1 << 20 // bytes in one policy or stack file
	maxStackSize = 2 << 20 // bytes in a stack file and its component files together
	maxDepth     = 32      // nesting of mappings and lists
	maxNodes     = 100_000 // YAML values (scalars, lists, mappings, keys) in one file
	maxListLen   = 10_000  // entries in one list, keys in one mapping
	maxExtends   = 64      // profiles in one extends list
	// maxComponents bounds a stack: validate and compile cost about 150 µs a component
	// (docs/BENCHMARKS.md), so the largest stack accepted stays well under a second.
	maxComponents = 4096
	maxAliases    = 100 // anchors and aliases in one file (each is refused anyway)
)

// listLimits are the lists with a tighter bound than maxListLen, by field path.
var listLimits = map[string]int{"extends": maxExtends, "components": maxComponents}

// limiter walks a parsed file once, before anything else does, and stops at the first
// limit it meets. It never follows an alias to its anchor, so an alias bomb costs one
// node per alias written, not per expansion.
type limiter struct {
	file           string
	nodes, aliases int
	errs           ErrorList
}

// checkLimits reports the first limit root breaks, as a one-error list, or nil.
func checkLimits(file string, root *yaml.Node) error {
	l := &limiter{file: file}
	l.walk(root, "", 0)
	return l.errs.Err()
}

func (l *limiter) fail(n *yaml.Node, path, format string, args ...any) bool {
	l.errs.Add(Pos{File: l.file, Line: max(n.Line, 1), Col: max(n.Column, 1)}, path, format, args...)
	return false
}

func (l *limiter) walk(n *yaml.Node, path string, depth int) bool {
	if l.nodes++; l.nodes > maxNodes {
		return l.fail(n, "", "the file holds more than %d YAML values, the limit for one file", maxNodes)
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		if l.aliases++; l.aliases > maxAliases {
			return l.fail(n, path, "the file holds more than %d anchors and aliases, the limit for one file (confine does not expand them)", maxAliases)
		}
	}
	if depth > maxDepth {
		return l.fail(n, path, "nesting is deeper than %d levels, the limit for one file", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if !l.walk(c, path, depth) {
				return false
			}
		}
	case yaml.SequenceNode:
		limit := maxListLen
		if v, ok := listLimits[path]; ok {
			limit = v
		}
		if len(n.Content) > limit {
			return l.fail(n, path, "the list has %d entries; the limit is %d", len(n.Content), limit)
		}
		for i, c := range n.Content {
			if !l.walk(c, indexPath(path, i), depth+1) {
				return false
			}
		}
	case yaml.MappingNode:
		if len(n.Content)/2 > maxListLen {
			return l.fail(n, path, "the mapping has %d keys; the limit is %d", len(n.Content)/2, maxListLen)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if !l.walk(k, path, depth+1) || !l.walk(v, join(path, keyPath(k)), depth+1) {
				return false
			}
		}
	}
	return true
}

// keyPath is a mapping key as a path element; a key that is not a scalar has none.
func keyPath(k *yaml.Node) string {
	if k.Kind != yaml.ScalarNode {
		return "?"
	}
	return k.Value
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
