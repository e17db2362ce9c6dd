package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// setSysctls writes the Plan's sysctls before the mounts, through the host's /proc:
// /proc/sys/net answers for the network namespace of whoever opens it, this one, whose
// user namespace makes the init stage its administrator (net_ctl_permissions). The
// component's new /proc/sys is read-only later. Only net.* keys are namespaced this way.
func setSysctls(cfg *initConfig) error {
	if cfg.SharedNet {
		return nil // the namespace's owner set them
	}
	for _, s := range cfg.Component.Sysctls {
		if !strings.HasPrefix(s.Key, "net.") || strings.Contains(s.Key, "/") || strings.Contains(s.Key, "..") {
			return fmt.Errorf("sysctl %s: only network-namespace keys (net.*) are set", s.Key)
		}
		path := filepath.Join("/proc/sys", strings.ReplaceAll(s.Key, ".", "/"))
		if err := os.WriteFile(path, []byte(s.Value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s (%s): %w", s.Key, s.Value, s.Why, err)
		}
	}
	return nil
}
