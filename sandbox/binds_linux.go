package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// checkBindTarget refuses to make a missing filesystem.bind target where making it
// would write to a host directory or the rootfs: the mount point may only be created
// in a tmpfs of the sandbox's own (its root in host-view mode, or a filesystem.tmpfs).
// The deepest earlier mount holding the target decides.
func checkBindTarget(mounts []plan.Mount, i int, root string) error {
	if _, err := os.Lstat(filepath.Join(root, mounts[i].Target)); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return missingBindTarget(mounts, i)
}

// missingBindTarget is checkBindTarget's verdict on a target that does not exist: nil
// when the deepest earlier mount holding it is a tmpfs of the sandbox's own.
func missingBindTarget(mounts []plan.Mount, i int) error {
	m := mounts[i]
	holder := -1
	for j := 0; j < i; j++ {
		t := mounts[j].Target
		if (t == "/" || strings.HasPrefix(m.Target, t+"/")) && (holder < 0 || len(t) >= len(mounts[holder].Target)) {
			holder = j
		}
	}
	if holder < 0 || mounts[holder].Type == "tmpfs" {
		return nil
	}
	h := mounts[holder]
	return fmt.Errorf("the target %s does not exist in %s (%s, from %s), and confine makes no mount point on the host; create it there, or bind a directory", m.Target, h.Target, h.Why, h.Source)
}
