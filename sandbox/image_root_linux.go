package sandbox

import (
	"path"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// RootWrites reports whether a run of c's image may make anything in its root besides
// the mount points at its top (a /proc, a tmpfs: image.Store.RunImage checks that the
// image has each as a directory, or gives it from its layer of them): a write path (the
// upper's own bind), a volume or a bind whose target or parents the image may lack, the
// stack's /etc/hosts and resolv.conf (hosts), or /dev's links (setupRootfs) without a
// tmpfs /dev to hold them. A mount beneath a tmpfs of the Plan mounted before it makes
// its mount point in that tmpfs. Only a run for which it is false may go without an
// upper, on an overlay of the lowers alone.
func RootWrites(c *plan.Component, hosts bool) bool {
	if c.Image == nil || hosts {
		return true
	}
	var tmpfs []string
	dev := false
	for _, m := range c.Mounts {
		t := path.Clean("/" + m.Target)
		switch {
		case m.Type == "overlay" && t == "/":
			continue
		case beneathAny(t, tmpfs):
		case (m.Type == "proc" || m.Type == "tmpfs") && t != "/" && strings.Count(t, "/") == 1:
		default:
			return true
		}
		if m.Type == "tmpfs" {
			tmpfs = append(tmpfs, t)
			dev = dev || t == "/dev"
		}
	}
	return !dev
}

// beneathAny reports whether p lies strictly beneath one of dirs (clean, absolute).
func beneathAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
