package sandbox

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// checkProgramStore refuses a writable bind that holds the directory of the kept seccomp
// programs or of the kept Plans (sandbox/progcache): through it the component, host
// root's id on an idmapped bind, could plant the filter or the Plan of later starts. A
// read-only bind may show them.
func checkProgramStore(c *plan.Component) error {
	var g *progcache.Guard
	for _, m := range c.Mounts {
		if m.Type != "bind" || slices.Contains(m.Options, "ro") {
			continue
		}
		if g == nil {
			g = progcache.NewGuard()
		}
		if dir := g.Exposes(m.Source); dir != "" {
			return &storeExposed{m: m, dir: dir}
		}
	}
	return nil
}

// openTreeChecked is open_tree(OPEN_TREE_CLONE) of m's source, as root the store check
// made on the very file it clones: checkProgramStore read the path once, before the
// start, and a symlink on it could have been swapped since.
func openTreeChecked(m plan.Mount) (int, error) {
	const flags = unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_RECURSIVE
	if os.Geteuid() != 0 || slices.Contains(m.Options, "ro") {
		return unix.OpenTree(unix.AT_FDCWD, m.Source, flags)
	}
	p, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(p)
	if dir := progcache.ExposesFD(p); dir != "" {
		return -1, &storeExposed{m: m, dir: dir}
	}
	return unix.OpenTree(p, "", flags|unix.AT_EMPTY_PATH)
}

// storeExposed is a writable bind that holds the program store.
type storeExposed struct {
	m   plan.Mount
	dir string
}

func (e *storeExposed) Error() string {
	return fmt.Sprintf("%s %s (%s) holds %s, where confine keeps the seccomp programs and Plans of later starts: a component that may write there could choose their filters; bind a directory beside it", e.m.Type, e.m.Target, e.m.Why, e.dir)
}
