package plan

// Image pins the image a component runs from. Built by compileImage
// (policy/compile_image.go); checked against the store by image.Store.RunImage and
// mounted by imageMounts (sandbox/overlay_linux.go).
type Image struct {
	// Ref is the reference as the policy wrote it (a relative oci: or docker-archive:
	// path joined to the policy's directory); the digests below are what runs.
	Ref          string   `json:"ref"`
	Digest       string   `json:"digest"`        // the manifest's
	ConfigDigest string   `json:"config_digest"` // the config's
	DiffIDs      []string `json:"diff_ids"`      // every layer's, bottom first
	// Defaults names what the image's config supplied because the policy left it out:
	// "command", "env KEY", "user", "workdir".
	Defaults []string `json:"defaults,omitempty"`
	// ExposedPorts and Volumes are what the image expects; they grant nothing.
	ExposedPorts []string `json:"exposed_ports,omitempty"`
	Volumes      []string `json:"volumes,omitempty"`
	// User is the config's User as written, when it set the process's ids.
	User string `json:"user,omitempty"`
}
