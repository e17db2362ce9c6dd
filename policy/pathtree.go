package policy

import "strings"

// pathTree holds a list of paths by their components, so that finding the listed paths
// another path lies within costs the length of that path, not of the list.
type pathTree struct {
	kids   map[string]*pathTree
	listed string // the listed path ending here
	here   bool
	// empty: the list holds "" (an invalid entry, reported elsewhere), which within
	// has always counted as holding every absolute path.
	empty bool
}

func newPathTree(paths ...[]string) *pathTree {
	t := &pathTree{}
	for _, list := range paths {
		for _, p := range list {
			t.add(p)
		}
	}
	return t
}

// add lists p. Paths that are neither absolute and clean nor "" hold no clean path, so
// they are left out.
func (t *pathTree) add(p string) {
	switch {
	case p == "":
		t.empty = true
		return
	case checkPath(p) != "":
		return
	}
	n := t
	for _, part := range pathParts(p) {
		if n.kids == nil {
			n.kids = map[string]*pathTree{}
		}
		if n.kids[part] == nil {
			n.kids[part] = &pathTree{}
		}
		n = n.kids[part]
	}
	n.listed, n.here = p, true
}

// holders calls f with each listed path that the clean absolute path p is or lies
// within (as within(p, dir) says), shortest first.
func (t *pathTree) holders(p string, f func(dir string)) {
	if t.empty {
		f("")
	}
	n := t
	if n.here {
		f(n.listed)
	}
	for _, part := range pathParts(p) {
		if n = n.kids[part]; n == nil {
			return
		}
		if n.here {
			f(n.listed)
		}
	}
}

// pathParts splits a clean absolute path into its components; "/" has none.
func pathParts(p string) []string {
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}
