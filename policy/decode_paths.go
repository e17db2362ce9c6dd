package policy

import (
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// pathEntry is the mapping form of a filesystem.read or write entry.
type pathEntry struct {
	Path  string `yaml:"path"`
	Idmap bool   `yaml:"idmap"`
	// Volume, on a write entry, names a volume of the store mounted at Path.
	Volume string `yaml:"volume"`
}

// decodeNode lets a filesystem.read or write entry be a path or a mapping
// {path, idmap}. A mapping is decoded here and replaced by its path, so the lists stay
// []string for everything downstream; its idmap, when given, goes to f.Idmap.
func (f *Filesystem) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, list := n.Content[i], n.Content[i+1]
			if (k.Value != "read" && k.Value != "write") || list.Kind != yaml.SequenceNode {
				continue
			}
			for j, item := range list.Content {
				if item.Kind == yaml.MappingNode {
					list.Content[j] = f.decodeEntry(d, item, fmt.Sprintf("%s[%d]", join(path, k.Value), j))
				}
			}
		}
	}
	type plain Filesystem // no decodeNode: decode as a struct
	var p plain
	d.decodeStruct(n, reflect.ValueOf(&p).Elem(), path)
	idmap, volumes := f.Idmap, f.Volumes
	*f = Filesystem(p)
	f.Idmap, f.Volumes = idmap, volumes
}

// decodeEntry decodes one {path, idmap} mapping and returns the node that stands for it
// in the list: its path's value (a null node when there is none, after the error).
func (f *Filesystem) decodeEntry(d *decoder, item *yaml.Node, path string) *yaml.Node {
	var e pathEntry
	d.decodeStruct(item, reflect.ValueOf(&e).Elem(), path)
	var pathNode *yaml.Node
	hasIdmap := false
	for i := 0; i+1 < len(item.Content); i += 2 {
		switch item.Content[i].Value {
		case "path":
			pathNode = item.Content[i+1]
		case "idmap":
			hasIdmap = true
		case "volume":
			f.recordVolume(d, item, path, e)
		}
	}
	if pathNode == nil || pathNode.Kind != yaml.ScalarNode {
		if pathNode == nil {
			d.errorf(item, path, "expected path: the directory or file, beside idmap")
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: item.Line, Column: item.Column}
	}
	if hasIdmap {
		if f.Idmap == nil {
			f.Idmap = map[string]bool{}
		}
		f.Idmap[e.Path] = e.Idmap
	}
	return pathNode
}

// idmapped reports whether path is bound through the component's id range: as written
// in {path, idmap}, or else def (true for write paths, false for read paths).
func (f Filesystem) idmapped(path string, def bool) bool {
	if on, ok := f.Idmap[path]; ok {
		return on
	}
	return def
}
