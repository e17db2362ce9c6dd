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
			tmpfs, dev = nil, false // the image's root covers what was mounted before it
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

// inFreshTmpfs reports whether the target of mount i lies inside a tmpfs the Plan mounts
// before it, with nothing but tmpfs mounts between it and the image's root: its mount
// point is then made in that tmpfs, which holds nothing of the image's nor of a volume's,
// only what the init stage made there, and the path down to it passes only directories
// of the image checked when those tmpfs mounts went onto them (safeTarget), which no one
// can change meanwhile (the run's overlay is its own, its lowers the store's). So no link
// can steer the mount, and it is made as a rootfs run's are, without a check of its own.
// A volume or any other mount above it (a co-tenant may put a link in a volume) keeps the
// check. Both init stages ask it (renderImageOne, mountImageOne).
func inFreshTmpfs(ms []plan.Mount, i int) bool {
	t := path.Clean("/" + ms[i].Target)
	fresh := false
	for _, m := range ms[:i] {
		mt := path.Clean("/" + m.Target)
		if mt == "/" && m.Type == "overlay" {
			fresh = false // the image's root covers what was mounted before it
			continue
		}
		if !strings.HasPrefix(t, mt+"/") && mt != "/" {
			continue
		}
		if m.Type != "tmpfs" {
			return false
		}
		fresh = true
	}
	return fresh
}
