package sandbox

import (
	"fmt"
	"slices"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// checkProgramStore refuses a writable bind that holds the kept seccomp programs'
// directory (sandbox/progcache): through it the component, host root's id on an
// idmapped bind, could plant the filter of later starts. A read-only bind may show them.
func checkProgramStore(c *plan.Component) error {
	for _, m := range c.Mounts {
		if m.Type != "bind" || slices.Contains(m.Options, "ro") {
			continue
		}
		if dir := progcache.Exposes(m.Source); dir != "" {
			return fmt.Errorf("%s %s (%s) holds %s, where confine keeps the seccomp programs of later starts: a component that may write there could choose their filters; bind a directory beside it", m.Type, m.Target, m.Why, dir)
		}
	}
	return nil
}
