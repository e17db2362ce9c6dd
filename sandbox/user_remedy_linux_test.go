package sandbox

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestLookupRemedyHostViewOnly: a sandbox without /etc/passwd or /etc/group is told to
// list the host's under filesystem.read only in host-view mode; a rootfs's or an image's
// missing file is its own, and binding the host's in would resolve names against the
// host's.
func TestLookupRemedyHostViewOnly(t *testing.T) {
	missing := &fs.PathError{Op: "open", Path: "/etc/group", Err: fs.ErrNotExist}
	for _, c := range []struct {
		name   string
		comp   plan.Component
		remedy bool
	}{
		{"host view", plan.Component{}, true},
		{"rootfs", plan.Component{Process: plan.Process{Rootfs: "/some/rootfs"}}, false},
		{"image", plan.Component{Image: &plan.Image{}}, false},
	} {
		cfg := &initConfig{Component: c.comp}
		for _, err := range []error{groupLookupFailed("staff", cfg, missing), lookupFailed("run.user", "staff", "/etc/group", cfg, missing)} {
			if got := strings.Contains(err.Error(), "under filesystem.read"); got != c.remedy {
				t.Errorf("%s: %q: names the filesystem.read remedy: %v, want %v", c.name, err, got, c.remedy)
			}
		}
	}
}
