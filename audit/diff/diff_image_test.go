package diff_test

import (
	"testing"

	"github.com/confine-sandbox/confine/audit/diff"
	"github.com/confine-sandbox/confine/policy/plan"
)

// TestDiffImage: a changed image digest is a grant naming both images; the same pins
// are no change.
func TestDiffImage(t *testing.T) {
	mk := func(digest string, layers ...string) *plan.Plan {
		return &plan.Plan{Name: "s", Single: true, Components: []plan.Component{{Name: "api", Source: "api.yaml",
			Image: &plan.Image{Ref: "oci:img", Digest: digest, ConfigDigest: "sha256:c" + digest[7:], DiffIDs: layers}}}}
	}
	old := mk("sha256:aaaa", "sha256:l1", "sha256:l2")
	same := diff.Diff(old, mk("sha256:aaaa", "sha256:l1", "sha256:l2"), nil)
	if same.Grew() {
		t.Errorf("the same image grew: %+v", same)
	}
	d := diff.Diff(old, mk("sha256:bbbb", "sha256:l1", "sha256:l3"), nil)
	if !d.Grew() || len(d.Components) != 1 {
		t.Fatalf("a new image is not a grant: %+v", d)
	}
	g := d.Components[0].Grants
	if len(g) != 1 || g[0].Kind != diff.ChangeImage || g[0].What != "oci:img@sha256:bbbb" || g[0].Detail != "was oci:img@sha256:aaaa; 1 of 2 layers new" {
		t.Errorf("grants: %+v", g)
	}
}
