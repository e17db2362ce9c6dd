package sandbox

import (
	"fmt"
	"strings"

	"github.com/syndtr/gocapability/capability"
	"golang.org/x/sys/unix"
)

// setIdentityAndCaps drops the bounding set to the declared capabilities, becomes the
// Plan's user keeping capabilities across setuid, then sets the effective, permitted,
// inheritable and ambient sets to the Plan's. Bounding goes first: dropping it needs
// CAP_SETPCAP, which setuid would take away.
func setIdentityAndCaps(cfg *initConfig) error {
	c := &cfg.Component
	set := c.Capabilities
	if c.Audit != nil {
		set = c.Audit.Capabilities // audit mode grants a permissive set and infers what is used
	}
	want := func(names []string) ([]capability.Cap, error) {
		var out []capability.Cap
		for _, n := range names {
			cp, ok := capNamed(n)
			if !ok {
				return nil, fmt.Errorf("unknown capability %s", n)
			}
			out = append(out, cp)
		}
		return out, nil
	}
	caps, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	if err := caps.Load(); err != nil {
		return err
	}
	bounding, err := want(set.Bounding)
	if err != nil {
		return err
	}
	caps.Clear(capability.BOUNDING)
	caps.Set(capability.BOUNDING, bounding...)
	if err := caps.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("bounding set: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return err
	}
	// Without root, setgroups was given up for the gid map: the invoking user's
	// supplementary groups stay, as with any unprivileged sandbox (and run.groups is
	// refused by resolveGroups).
	if !cfg.Rootless {
		if err := unix.Setgroups(cfg.groups); err != nil {
			return fmt.Errorf("setgroups %v: %w", cfg.groups, err)
		}
	}
	p := c.Process
	if err := unix.Setresgid(int(p.GID), int(p.GID), int(p.GID)); err != nil {
		return fmt.Errorf("setresgid %d: %w", p.GID, err)
	}
	if err := unix.Setresuid(int(p.UID), int(p.UID), int(p.UID)); err != nil {
		return fmt.Errorf("setresuid %d: %w", p.UID, err)
	}
	// A credential change clears the parent-death signal (prctl(2)): set it again, or a
	// supervisor killed with SIGKILL would leave its component running.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	sets := []struct {
		which capability.CapType
		names []string
	}{
		{capability.EFFECTIVE, set.Effective}, {capability.PERMITTED, set.Permitted},
		{capability.INHERITABLE, set.Inheritable}, {capability.AMBIENT, set.Ambient},
	}
	caps.Clear(capability.CAPS | capability.AMBIENT)
	for _, s := range sets {
		list, err := want(s.names)
		if err != nil {
			return err
		}
		caps.Set(s.which, list...)
	}
	if err := caps.Apply(capability.CAPS | capability.AMBS); err != nil {
		return fmt.Errorf("capability sets: %w", err)
	}
	return checkAmbient(set.Ambient)
}

// checkAmbient reads the ambient set back: gocapability does not report a failed raise.
func checkAmbient(names []string) error {
	for _, n := range names {
		cp, _ := capNamed(n)
		set, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(cp), 0, 0)
		if err != nil || set != 1 {
			return fmt.Errorf("ambient capability %s was not raised (%v)", n, err)
		}
	}
	return nil
}

// capNamed is the capability gocapability names name in lower case ("net_bind_service"),
// in any case. A walk of its list, not a map made at the package's init: a Plan names a
// few, and most starts take the C stage, whose render looks up each once.
func capNamed(name string) (capability.Cap, bool) {
	name = strings.ToLower(name)
	for _, c := range capability.List() {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}
