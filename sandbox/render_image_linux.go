package sandbox

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// renderImageOne is mountImageOne as C stage ops (stage_image.c): in an image each target
// but the overlay's, an upper's and one inside a tmpfs of the Plan (inFreshTmpfs) is
// checked first (safeTarget); an overlay or a volume
// attaches the parent's detached mount (attachBind); an upper is mountUpper. handled is
// false for the mounts mountOne makes, which renderMounts renders after the check.
func renderImageOne(cfg *initConfig, i int, m plan.Mount, prefix string, p *stage.Program) (handled bool, err error) {
	c := &cfg.Component
	format := imageFormat(prefix)
	if c.Image != nil && m.Type != "overlay" && m.Type != "upper" && !inFreshTmpfs(c.Mounts, i) {
		mkdir := uint64(1)
		if m.Type == "bind" && m.Source != "" {
			mkdir = 2 // isDir(m.Source), which the stage stats as the Go init does
		}
		// The root clean: the stage holds what it checked for the mount op whose target,
		// filepath.Join(root, target), is root/rel.
		p.Add(stage.OpSafeTarget, []uint64{mkdir}, []string{filepath.Clean(cfg.Root), relTarget(m.Target), m.Source}, format)
	}
	target := filepath.Join(cfg.Root, m.Target)
	switch m.Type {
	case "overlay", "volume":
		flags, _ := mountOptions(m)
		p.Add(stage.OpAttach, []uint64{uint64(i), uint64(flags), 0}, []string{"", target}, format)
		return true, nil
	case "upper":
		named, idx := uint64(0), uint64(0)
		if pr := c.Process; pr.User != "" || pr.Group != "" {
			// A made directory is chowned once the names resolve (OP_USER, chownLater).
			named, idx = 1, uint64(len(cfg.chownLater))
			cfg.chownLater = append(cfg.chownLater, m.Target)
		}
		p.Add(stage.OpUpper, []uint64{uint64(c.Process.UID), uint64(c.Process.GID), named, idx},
			[]string{filepath.Clean(cfg.Root), relTarget(m.Target), target}, format)
		return true, nil
	}
	return false, nil
}

// renderImageHosts is setupRootfs's check of /etc/hosts or resolv.conf (name) in an
// image, right before the stack's file is mounted over it: the stage holds only the
// target checked last, so the other file's check in between would leave this mount to
// walk the path again.
func renderImageHosts(cfg *initConfig, name string, p *stage.Program) {
	if cfg.Component.Image == nil {
		return
	}
	p.Add(stage.OpSafeTarget, []uint64{0}, []string{filepath.Clean(cfg.Root), relTarget(name), ""}, imageFormat(name))
}

// relTarget is target as safeTarget walks it: clean, without the leading slash.
func relTarget(target string) string {
	return strings.TrimPrefix(path.Clean("/"+target), "/")
}

// imageFormat words the image ops' failures as safeTarget, attachBind and mountUpper do.
func imageFormat(prefix string) stage.Formatter {
	return func(e stage.Error) string {
		switch e.Kind {
		case 1:
			return fmt.Sprintf("%s: %s is a symlink in the image: refused (a mount onto it would follow the link)", prefix, e.Detail)
		case 2:
			return fmt.Sprintf("%s: %s is not a directory in the image", prefix, e.Detail)
		case 3:
			return prefix + ": the parent passed no mount for it"
		}
		return prefix + ": " + e.Cause()
	}
}
