package supervisor

import (
	"fmt"
	"path"
	"strings"

	"github.com/confine-sandbox/confine/image"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// PrepareStorage readies what a component's Plan needs of the image store before its
// start: the image, checked against the Plan's pins, with the run's own upper, and each
// volume, made on first use and held for the run (volume rm refuses meanwhile). release
// removes the upper and lets the volumes go; call it once the run has ended.
func PrepareStorage(s *image.Store, c *plan.Component, opts *sandbox.Options) (release func(), err error) {
	var undo []func()
	undoAll := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			undoAll()
		}
	}()
	for _, m := range c.Mounts {
		if m.Type != "volume" && m.Type != "overlay" {
			continue
		}
		if s == nil {
			return nil, fmt.Errorf("component %s needs the image store", c.Name)
		}
		if m.Type == "overlay" {
			run, err := s.RunImage(c.Image, sandbox.RootWrites(c, opts.Hosts != ""), mountPoints(c)...)
			if err != nil {
				return nil, err
			}
			undo = append(undo, func() { run.Close() })
			opts.Image = &sandbox.ImageRoot{Lowers: run.Lowers(), Upper: run.Upper, Work: run.Work, UserXattr: run.UserXattr(),
				Mounted: run.Mounted}
			continue
		}
		if c.Process.User != "" || c.Process.Group != "" {
			// A new volume is made owned by the component's user before it starts,
			// and a name resolves only inside the started sandbox.
			return nil, fmt.Errorf("component %s: run.user %q names its user or group, and volume %s is made owned by them before the start: give run.user as UID:GID", c.Name, userOf(c.Process), m.Volume)
		}
		dir, free, err := s.UseVolume(m.Volume, c.Process.UID, c.Process.GID)
		if err != nil {
			return nil, err
		}
		undo = append(undo, free)
		if opts.Volumes == nil {
			opts.Volumes = map[string]string{}
		}
		opts.Volumes[m.Volume] = dir
	}
	return undoAll, nil
}

// mountPoints are the directories at the root of c's image that its /proc and tmpfs
// mounts go onto (image.Store.RunImage gives those the image lacks).
func mountPoints(c *plan.Component) []string {
	var names []string
	for _, m := range c.Mounts {
		if m.Type != "proc" && m.Type != "tmpfs" {
			continue
		}
		if n := strings.TrimPrefix(path.Clean(m.Target), "/"); n != "" && !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	return names
}

// imageOf names a component's pinned image for ps: REF@DIGEST, or "".
func imageOf(c *plan.Component) string {
	if c.Image == nil {
		return ""
	}
	return c.Image.Ref + "@" + c.Image.Digest
}

// userOf is run.user's names as written.
func userOf(p plan.Process) string {
	if p.Group == "" {
		return p.User
	}
	if p.User == "" {
		return fmt.Sprintf("%d:%s", p.UID, p.Group)
	}
	return p.User + ":" + p.Group
}
