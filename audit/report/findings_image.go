package report

import (
	"fmt"
	"slices"
	"strings"
)

// findImage reports the image a component runs from, pinned, and what its config chose
// for it. The setuid note rests on the store, not on a scan: the unpacker clears every
// setuid and setgid bit and drops file capabilities (docs/images.md), and no_new_privs
// would make a kept one grant nothing.
func findImage(s *subject) []Finding {
	im := s.c.Image
	if im == nil {
		return nil
	}
	out := []Finding{{Severity: Info, Title: fmt.Sprintf("runs from image %s@%s (%d layers)", im.Ref, im.Digest, len(im.DiffIDs)),
		Detail:      "the Plan pins the manifest, the config and every layer's diff_id; setuid and setgid bits and file capabilities were removed when the layers were unpacked, so no setuid file of the image is kept",
		Declaration: field(s, "run.image")}}
	if slices.Contains(im.Defaults, "user") && (s.pr.UID == 0 || s.pr.GID == 0) {
		out = append(out, Finding{Severity: Medium, Title: "runs as root because the image says so (User " + im.User + ")",
			Detail: "the policy sets no run.user, so the image's config chose root inside; set run.user", Declaration: field(s, "run.user")})
	}
	if slices.Contains(im.Defaults, "command") {
		out = append(out, Finding{Severity: Info, Title: "the command is the image's (Entrypoint and Cmd)",
			Detail: "what runs is chosen by the image's author; the pins fix it: " + strings.Join(im.Defaults, ", "), Declaration: field(s, "run.command")})
	}
	return out
}
