package progcache

import (
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// PlanDir is where root's runs keep the Plans they compiled (cmd/confine's plancache),
// and PlanEnvDir the variable that names another: a Plan planted there would be run by
// a later start as its policy's, so starts keep it out of reach as they keep this store.
const (
	PlanDir    = "/var/cache/confine/plans"
	PlanEnvDir = "CONFINE_PLAN_CACHE"
)

// Dirs are the directories a start must keep out of a component's reach: the default
// stores of programs and of Plans, and those EnvDir and PlanEnvDir name. All of them,
// whichever this start uses: an entry planted in one is taken by a later start that
// uses it.
func Dirs() []string {
	dirs := []string{DefaultDir, PlanDir}
	for _, env := range []string{EnvDir, PlanEnvDir} {
		if d := os.Getenv(env); filepath.IsAbs(d) && !slices.Contains(dirs, filepath.Clean(d)) {
			dirs = append(dirs, filepath.Clean(d))
		}
	}
	return dirs
}

// Guard tells which writable binds would let a component write a store directory
// (Dirs): the directory itself, one of its ancestors, or something inside it, told by
// device and inode, so that a symlink or another bind of the same directory is the same
// one. A store directory not made yet counts from its deepest existing ancestor: a
// component that could make it, as root through an idmapped bind, could fill it. A
// component running as host root's id there could plant a program that later starts
// load as another policy's seccomp filter. A Guard is made per start: a store made
// since has other ancestors.
type Guard struct{ dirs []guarded }

type guarded struct {
	path      string
	ancestors []fileID // the directory (when it exists) and its parents up to /
	self      *fileID  // nil: not made yet
}

type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{uint64(st.Dev), st.Ino} }

// NewGuard reads where the store directories are now.
func NewGuard() *Guard {
	g := &Guard{}
	for _, dir := range Dirs() {
		d := guarded{path: dir}
		for _, a := range ancestors(dir) {
			var st unix.Stat_t
			if unix.Stat(a, &st) == nil {
				d.ancestors = append(d.ancestors, idOf(&st))
			}
		}
		var st unix.Stat_t
		if unix.Stat(dir, &st) == nil {
			id := idOf(&st)
			d.self = &id
		}
		g.dirs = append(g.dirs, d)
	}
	return g
}

// Exposes is the store directory a writable bind of source would expose, or "".
func (g *Guard) Exposes(source string) string {
	var src unix.Stat_t
	if unix.Stat(source, &src) != nil {
		return "" // nothing to bind: the start fails on it anyway
	}
	return g.exposes(&src, func(self fileID) bool {
		for _, a := range ancestors(source)[1:] {
			var st unix.Stat_t
			if unix.Stat(a, &st) == nil && idOf(&st) == self {
				return true
			}
		}
		return false
	})
}

// ExposesFD is Exposes of the file fd is open on (O_PATH will do), told from the
// descriptor alone: a path the caller resolved once, so that a symlink swapped after
// the check cannot point the bind elsewhere. A directory is walked up by ".."; a file
// may not be one of a store's entries.
func (g *Guard) ExposesFD(fd int) string {
	var src unix.Stat_t
	if unix.Fstat(fd, &src) != nil {
		return ""
	}
	return g.exposes(&src, func(self fileID) bool {
		if src.Mode&unix.S_IFMT == unix.S_IFDIR {
			return below(fd, self)
		}
		return false // a file: exposes asks holds
	})
}

// exposes: src is a store directory's or an ancestor's, or inside says it lies within
// one. Only a file of the store's filesystem can lie within it.
func (g *Guard) exposes(src *unix.Stat_t, inside func(self fileID) bool) string {
	id := idOf(src)
	for _, d := range g.dirs {
		for _, a := range d.ancestors {
			if a == id {
				return d.path
			}
		}
		if d.self == nil || d.self.dev != id.dev {
			continue
		}
		if src.Mode&unix.S_IFMT != unix.S_IFDIR && holds(d.path, id) || inside(*d.self) {
			return d.path
		}
	}
	return ""
}

// Exposes is NewGuard().Exposes(source).
func Exposes(source string) string { return NewGuard().Exposes(source) }

// ExposesFD is NewGuard().ExposesFD(fd).
func ExposesFD(fd int) string { return NewGuard().ExposesFD(fd) }

// ancestors is dir's existing part with its symlinks resolved, and each of its parents
// up to /.
func ancestors(dir string) []string {
	d := dir
	for {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			d = real
			break
		}
		if d == "/" {
			break
		}
		d = filepath.Dir(d)
	}
	out := []string{d}
	for d != "/" {
		d = filepath.Dir(d)
		out = append(out, d)
	}
	return out
}

// below: the directory fd is open on lies below the directory self.
func below(fd int, self fileID) bool {
	cur, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for i := 0; err == nil && i < 4096; i++ {
		var a unix.Stat_t
		if unix.Fstat(cur, &a) != nil {
			break
		}
		if idOf(&a) == self {
			unix.Close(cur)
			return true
		}
		next, nerr := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		var n unix.Stat_t
		if nerr == nil && unix.Fstat(next, &n) == nil && idOf(&n) == idOf(&a) {
			unix.Close(next) // "/" is its own parent
			break
		}
		unix.Close(cur)
		cur, err = next, nerr
	}
	if err == nil {
		unix.Close(cur)
	}
	return false
}

// holds: the file id is one of dir's entries.
func holds(dir string, id fileID) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(dir, e.Name()), &st) == nil && idOf(&st) == id {
			return true
		}
	}
	return false
}
