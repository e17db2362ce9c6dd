package policy

import (
	"strings"
	"testing"
)

// TestDenyOrigins checks that each seccomp deny names its own rule across merged
// profiles: two rules for one syscall with different arguments (default's two ioctl
// rules, service's and default's socket rules) must not share a position.
func TestDenyOrigins(t *testing.T) {
	p := compileFile(t, "../examples", "shop/api.yaml")
	var ioctl, socket []string
	for _, d := range p.Components[0].Seccomp.Denies {
		switch d.Syscall {
		case "ioctl":
			ioctl = append(ioctl, d.Why)
		case "socket":
			socket = append(socket, d.Why)
		}
	}
	distinct := func(name string, whys []string, want int, files ...string) {
		t.Helper()
		seen := map[string]bool{}
		for _, w := range whys {
			seen[w] = true
		}
		if len(whys) != want || len(seen) != want {
			t.Errorf("%s denies: %q, want %d with distinct rules", name, whys, want)
		}
		for _, f := range files {
			if !strings.Contains(strings.Join(whys, "\n"), f) {
				t.Errorf("%s denies: %q, none from %s", name, whys, f)
			}
		}
	}
	distinct("ioctl", ioctl, 2, "profiles/default.yaml:195:7 syscalls.deny[2]", "profiles/default.yaml:197:7 syscalls.deny[3]")
	distinct("socket", socket, 4, "profiles/service.yaml:21:7 syscalls.deny[0]", "profiles/default.yaml:188:7 syscalls.deny[1]")
}
