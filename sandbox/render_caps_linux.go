package sandbox

import (
	"fmt"

	"github.com/syndtr/gocapability/capability"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// renderCaps is setIdentityAndCaps as one op: the bounding set, setgroups, the ids, the
// parent-death signal again, the four sets. The failure is worded as the Go init words it.
func renderCaps(cfg *initConfig, p *stage.Program) error {
	c := &cfg.Component
	mask := func(names []string) (uint64, bool) {
		var m uint64
		for _, n := range names {
			cp, ok := capNamed(n)
			if !ok || cp > 63 {
				return 0, false
			}
			m |= 1 << uint(cp)
		}
		return m, true
	}
	var sets [5]uint64
	for i, names := range [][]string{c.Capabilities.Bounding, c.Capabilities.Effective, c.Capabilities.Permitted, c.Capabilities.Inheritable, c.Capabilities.Ambient} {
		m, ok := mask(names)
		if !ok {
			return errGoInit
		}
		sets[i] = m
	}
	last := capLastCap()
	proc := c.Process
	setgroups := uint64(1)
	if cfg.Rootless {
		setgroups = 0
	}
	ints := []uint64{sets[0], sets[1], sets[2], sets[3], sets[4], uint64(proc.UID), uint64(proc.GID), setgroups, uint64(last)}
	for _, g := range cfg.groups {
		ints = append(ints, uint64(g))
	}
	groups := cfg.groups
	p.Add(stage.OpCaps, ints, nil, func(e stage.Error) string {
		switch e.Kind {
		case 1:
			return "bounding set: " + e.Cause()
		case 3:
			return fmt.Sprintf("setgroups %v: %v", groups, e.Errno)
		case 4:
			return fmt.Sprintf("setresgid %d: %v", e.Aux, e.Errno) // OP_USER's, when named
		case 5:
			return fmt.Sprintf("setresuid %d: %v", e.Aux, e.Errno)
		case 6:
			return "parent-death signal: " + e.Cause()
		case 7:
			return "capability sets: " + e.Cause()
		case 8:
			var err error
			if e.Errno != 0 {
				err = e.Errno
			}
			name := capability.Cap(e.Aux).String()
			for _, n := range c.Capabilities.Ambient {
				if cp, _ := capNamed(n); cp == capability.Cap(e.Aux) {
					name = n
				}
			}
			return fmt.Sprintf("ambient capability %s was not raised (%v)", name, err)
		}
		return e.Cause()
	})
	return nil
}
