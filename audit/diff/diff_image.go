package diff

import (
	"fmt"
	"slices"
)

// ChangeImage is a different image: other content runs, whatever the policy grants. It
// counts as a grant (a merge gate stops on it), since the pins are what a reviewer signs.
const ChangeImage = "image"

// diffImage reports an image whose pins changed: the manifest, the config or a layer.
func diffImage(o, n *diffSide, cs *diffChangeSet) {
	ni := n.c.Image
	var oi = (*imagePins)(nil)
	if o != nil && o.c.Image != nil {
		oi = &imagePins{o.c.Image.Ref, o.c.Image.Digest, o.c.Image.ConfigDigest, o.c.Image.DiffIDs}
	}
	switch {
	case ni == nil && oi == nil:
	case ni == nil:
		cs.note(ChangeImage, oi.ref, "no image any more (was "+oi.digest+")", n.field("run.image"))
	case oi == nil:
		if o != nil { // a new component's image is part of its addition
			cs.grant(ChangeImage, ni.Ref+"@"+ni.Digest, fmt.Sprintf("runs from an image (%d layers)", len(ni.DiffIDs)), n.field("run.image"))
		}
	case oi.digest != ni.Digest || oi.config != ni.ConfigDigest || !slices.Equal(oi.layers, ni.DiffIDs):
		same := 0
		for _, l := range ni.DiffIDs {
			if slices.Contains(oi.layers, l) {
				same++
			}
		}
		cs.grant(ChangeImage, ni.Ref+"@"+ni.Digest, fmt.Sprintf("was %s@%s; %d of %d layers new", oi.ref, oi.digest, len(ni.DiffIDs)-same, len(ni.DiffIDs)), n.field("run.image"))
	}
}

type imagePins struct {
	ref, digest, config string
	layers              []string
}
