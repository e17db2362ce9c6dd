package explain

import (
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// imageFilesystem explains a root made of an image: what is pinned, what the image's
// config supplied, what it expects (which grants nothing), and where writes may go.
func (e *writer) imageFilesystem(c *plan.Component) {
	im := c.Image
	e.line(1, "Image: %s, pinned to manifest %s, config %s, %d layers (diff_ids in the Plan); run refuses a store whose content differs.", im.Ref, im.Digest, short(strings.TrimPrefix(im.ConfigDigest, "sha256:")), len(im.DiffIDs))
	if len(im.Defaults) > 0 {
		what := strings.Join(im.Defaults, ", ")
		if im.User != "" {
			what += " (user " + im.User + " from the image's /etc/passwd)"
		}
		e.line(2, "from the image's config, since the policy leaves them out: %s", what)
	}
	if len(im.ExposedPorts) > 0 {
		e.line(2, "the image expects to serve %s: this grants nothing; only network.listen opens a port", strings.Join(im.ExposedPorts, ", "))
	}
	if len(im.Volumes) > 0 {
		e.line(2, "the image expects volumes at %s: this grants nothing; only filesystem.write makes a path writable", strings.Join(im.Volumes, ", "))
	}
	e.line(1, "Filesystem: root is the image, read-only (an overlay of its layers over a per-run upper); Landlock lets the whole image be read and executed, and written only below.")
	var upper, vols, tmp []string
	for _, m := range c.Mounts {
		switch m.Type {
		case "upper":
			upper = append(upper, m.Target)
		case "volume":
			vols = append(vols, m.Target+" (volume "+m.Volume+")")
		case "tmpfs":
			if m.Why == "filesystem.tmpfs" {
				tmp = append(tmp, m.Target)
			}
		}
	}
	e.line(2, "writable, gone after the run (the run's upper): %s", list(upper))
	e.line(2, "writable, kept across runs and down (volumes): %s", list(vols))
	e.line(2, "private tmpfs: %s", list(tmp))
	e.line(2, "also: /proc (own pid namespace; %d entries masked), a minimal /dev, no /sys", len(c.MaskedPaths))
}
