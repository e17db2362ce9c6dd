package sandbox

import (
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestRootWrites: an image run goes without an upper only when every mount point it
// makes is at the root's top (a /proc, a tmpfs) or inside a tmpfs mounted before it, and
// /dev's links have a tmpfs /dev; a write path, a volume, a deeper mount point, the
// stack's /etc/hosts or a run without an image need the upper.
func TestRootWrites(t *testing.T) {
	base := []plan.Mount{{Type: "overlay", Target: "/"}, {Type: "proc", Target: "/proc"}, {Type: "tmpfs", Target: "/dev"},
		{Type: "bind", Source: "/dev/null", Target: "/dev/null"}, {Type: "devpts", Target: "/dev/pts"},
		{Type: "tmpfs", Target: "/dev/shm"}, {Type: "bind", Source: "/dev/zero", Target: "/dev/shm/../zero"}}
	with := func(ms ...plan.Mount) []plan.Mount { return append(append([]plan.Mount{}, base...), ms...) }
	img := &plan.Image{Ref: "x"}
	for _, tc := range []struct {
		name   string
		mounts []plan.Mount
		image  *plan.Image
		hosts  bool
		want   bool
	}{
		{"the minimal image run", base, img, false, false},
		{"a tmpfs at the top", with(plan.Mount{Type: "tmpfs", Target: "/tmp"}), img, false, false},
		{"the stack's /etc/hosts", base, img, true, true},
		{"a write path", with(plan.Mount{Type: "upper", Target: "/srv"}), img, false, true},
		{"a volume at the top", with(plan.Mount{Type: "volume", Target: "/data"}), img, false, true},
		{"a tmpfs deeper", with(plan.Mount{Type: "tmpfs", Target: "/var/tmp"}), img, false, true},
		{"a bind at the top", with(plan.Mount{Type: "bind", Source: "/x", Target: "/x"}), img, false, true},
		{"a bind before its tmpfs", append([]plan.Mount{base[0], base[3]}, base[1:]...), img, false, true},
		{"a link that climbs out of the tmpfs", with(plan.Mount{Type: "bind", Source: "/x", Target: "/dev/../x"}), img, false, true},
		{"no tmpfs /dev for its links", base[:2], img, false, true},
		{"no image", base, nil, false, true},
	} {
		c := &plan.Component{Mounts: tc.mounts, Image: tc.image}
		if got := RootWrites(c, tc.hosts); got != tc.want {
			t.Errorf("%s: RootWrites = %v, want %v", tc.name, got, tc.want)
		}
	}
}
