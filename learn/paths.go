package learn

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// CollapseAt is how many distinct entries of one directory the program must have touched
// (read, or written, counted by name, not by call) for the directory to stand for them.
// Eight is well above what a program reads on purpose in one place (a config file and its
// includes) and well below what it touches where it owns the directory (a spool, a cache,
// a data directory). A collapse goes one level only: a directory that stands for its
// entries does not count towards its parent, so a grant is never a parent of a directory
// the program did not touch many entries of, and what was only read never widens past the
// directory holding it.
const CollapseAt = 8

// grants are the paths the run's policy already gave: what they cover produced no record
// and needs no new entry.
type grants struct {
	read, write []string // write holds write, tmpfs and writable bind targets
}

func (g grants) covers(p string, write bool) bool {
	if under(p, g.write) != "" {
		return true
	}
	return !write && under(p, g.read) != ""
}

// under returns the first of dirs that is p or an ancestor of p, or "".
func under(p string, dirs []string) string {
	for _, d := range dirs {
		if d == "/" || p == d || strings.HasPrefix(p, d+"/") {
			return d
		}
	}
	return ""
}

// pathEntry is one learned read or write path and what the comment beside it says.
type pathEntry struct {
	path, note string
}

// fileNeeds is what the observed files need: the write and read paths, and the
// comments above the lists (what was left out, and why).
type fileNeeds struct {
	read, write []pathEntry
	left        []string
}

// need is one path the program needs, before collapsing.
type need struct {
	access map[string]int
	listed bool   // the program listed or opened the directory itself
	target string // the path is where this symlink points
}

// foldFiles turns the observed files into read and write entries: the rules of
// CollapseAt, create and remove needing the directory, and what is left out said.
func foldFiles(files map[string]*File, g grants, opt Options) fileNeeds {
	reads, writes := map[string]*need{}, map[string]*need{}
	var special, absent, root int
	for _, p := range sortedKeys(files) {
		f := files[p]
		if under(p, []string{"/proc", "/dev", "/sys"}) != "" {
			special++
			continue
		}
		for _, acc := range sortedKeys(f.Access) {
			target, write := p, false
			switch acc {
			case "create", "remove":
				target, write = path.Dir(p), true
			case "write":
				write = true
				if f.Absent || !opt.exists(p) {
					target = path.Dir(p) // written, then removed or renamed: its directory
				}
			default:
				if f.Absent || !opt.exists(p) {
					absent++
					continue
				}
			}
			if write && target == "/" {
				root++
				continue
			}
			m := reads
			if write {
				m = writes
			}
			noteNeed(m, target, acc, f.Access[acc], acc == "list")
			if real := opt.resolve(target); real != "" && real != target && validPath(real) && !write {
				noteNeed(m, real, acc, f.Access[acc], false).target = target
			}
		}
	}
	out := fileNeeds{}
	wr := collapse(writes, nil, g, true)
	out.write = wr
	var written []string
	for _, e := range wr {
		written = append(written, e.path)
	}
	out.read = collapse(reads, written, g, false)
	if special > 0 {
		out.left = append(out.left, fmt.Sprintf("%d path(s) under /proc, /dev and /sys left out: confine mounts its own /proc and /dev, and no /sys", special))
	}
	if absent > 0 {
		out.left = append(out.left, fmt.Sprintf("%d path(s) read that do not exist left out: a missing path cannot be bound", absent))
	}
	if root > 0 {
		out.left = append(out.left, fmt.Sprintf("%d write(s) of entries of / left out: the root cannot be writable", root))
	}
	return out
}

func noteNeed(m map[string]*need, p, acc string, n int, listed bool) *need {
	e := m[p]
	if e == nil {
		e = &need{access: map[string]int{}}
		m[p] = e
	}
	e.access[acc] = add(e.access[acc], n)
	e.listed = e.listed || listed
	return e
}

// collapse drops what grants (or the written paths, for reads) cover, lets a directory
// stand for its entries where CollapseAt of them were touched, and drops what a listed
// or collapsed directory covers. The result is sorted by path.
func collapse(m map[string]*need, written []string, g grants, write bool) []pathEntry {
	kept := map[string]*need{}
	for p, e := range m {
		if !g.covers(p, write) && under(p, written) == "" {
			kept[p] = e
		}
	}
	children := map[string]map[string]bool{}
	for p := range kept {
		if p == "/" {
			continue
		}
		d := path.Dir(p)
		if children[d] == nil {
			children[d] = map[string]bool{}
		}
		children[d][p] = true
	}
	stands := map[string]int{} // directory → entries it stands for
	for d, kids := range children {
		if len(kids) >= CollapseAt && !(write && d == "/") && !g.covers(d, write) {
			stands[d] = len(kids)
		}
	}
	var dirs []string
	for p, e := range kept {
		if e.listed || stands[p] > 0 {
			dirs = append(dirs, p)
		}
	}
	for d := range stands {
		if kept[d] == nil {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	var out []pathEntry
	for _, p := range sortedKeys(kept) {
		if d := under(p, dirs); d != "" && d != p {
			continue
		}
		out = append(out, pathEntry{path: p, note: describe(kept[p], 0, write)})
	}
	for _, d := range dirs {
		if kept[d] == nil {
			out = append(out, pathEntry{path: d, note: describe(nil, stands[d], write)})
		} else if n := stands[d]; n > 0 {
			out[indexOf(out, d)].note = describe(kept[d], n, write)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func indexOf(es []pathEntry, p string) int {
	for i, e := range es {
		if e.path == p {
			return i
		}
	}
	return -1
}

// describe is the comment beside a path: what was done to it, and, for a directory
// that stands for its entries, how many.
func describe(e *need, entries int, write bool) string {
	var parts []string
	if e != nil {
		for _, acc := range sortedKeys(e.access) {
			parts = append(parts, fmt.Sprintf("%s %d", acc, e.access[acc]))
		}
		if e.target != "" {
			parts = append(parts, "where the symlink "+e.target+" points")
		}
	}
	if entries > 0 {
		verb := "read"
		if write {
			verb = "written"
		}
		parts = append(parts, fmt.Sprintf("stands for the %d entries %s in it (%d or more collapse; never widened to its parent)", entries, verb, CollapseAt))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
