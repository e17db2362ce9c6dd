package policy

import (
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// compileCapabilities builds the capability sets, applied by setIdentityAndCaps
// (sandbox/caps_linux.go). Every set holds only the declared capabilities. A non-root
// user keeps them across execve only as ambient capabilities, which need them inheritable.
func compileCapabilities(c *Component, cp *plan.Component) {
	caps := []string{}
	for _, name := range c.Capabilities {
		caps = append(caps, NormalizeCap(name))
	}
	sort.Strings(caps)
	set := plan.Capabilities{Bounding: caps, Permitted: caps, Effective: caps, Inheritable: []string{}, Ambient: []string{}}
	if cp.Process.UID != 0 || cp.Process.User != "" {
		// A named user may resolve to any uid: ambient for root too is harmless.
		set.Inheritable, set.Ambient = caps, caps
	}
	cp.Capabilities = set
}
