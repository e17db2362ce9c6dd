package sandbox

import (
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
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
		{"tmpfs mounts the image's root covers", append(append([]plan.Mount{}, base[1:]...), base[0]), img, false, true},
	} {
		c := &plan.Component{Mounts: tc.mounts, Image: tc.image}
		if got := RootWrites(c, tc.hosts); got != tc.want {
			t.Errorf("%s: RootWrites = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestInFreshTmpfs: a target inside a tmpfs mounted before it, with only tmpfs mounts
// above it, goes unchecked; one with a volume, a bind or an upper above it, one the
// tmpfs comes after, one at the root's top and one whose path climbs out stay checked.
// Rendered, the minimal /dev's binds, devpts and /dev/shm take no OP_SAFE_TARGET, the
// /dev tmpfs, /proc and what lies in a volume do.
func TestInFreshTmpfs(t *testing.T) {
	ms := []plan.Mount{{Type: "overlay", Target: "/"}, {Type: "proc", Target: "/proc"}, {Type: "tmpfs", Target: "/dev"},
		{Type: "bind", Source: "/dev/null", Target: "/dev/null"}, {Type: "devpts", Target: "/dev/pts"},
		{Type: "tmpfs", Target: "/dev/shm"}, {Type: "bind", Source: "/dev/zero", Target: "/dev/shm/x/zero"},
		{Type: "volume", Volume: "v", Target: "/data"}, {Type: "tmpfs", Target: "/data/tmp"},
		{Type: "bind", Source: "/dev/null", Target: "/data/tmp/null"}, {Type: "bind", Source: "/srv", Target: "/dev/srv"},
		{Type: "bind", Source: "/dev/null", Target: "/dev/srv/null"}, {Type: "bind", Source: "/dev/null", Target: "/dev/../etc/null"},
		{Type: "upper", Target: "/scratch"}, {Type: "tmpfs", Target: "/scratch/tmp"}, {Type: "bind", Source: "/dev/null", Target: "/scratch/tmp/null"},
		{Type: "bind", Source: "/dev/null", Target: "/run/null"}, {Type: "tmpfs", Target: "/run"}}
	want := map[string]bool{"/dev/null": true, "/dev/pts": true, "/dev/shm": true, "/dev/shm/x/zero": true, "/dev/srv": true}
	for i, m := range ms {
		if got := inFreshTmpfs(ms, i); got != want[m.Target] {
			t.Errorf("%s: inFreshTmpfs = %v, want %v", m.Target, got, want[m.Target])
		}
	}
	// A Plan (untrusted input) whose image root comes after a tmpfs: what follows is in
	// the image, not in that tmpfs.
	covered := []plan.Mount{{Type: "tmpfs", Target: "/"}, {Type: "tmpfs", Target: "/dev"}, {Type: "overlay", Target: "/"},
		{Type: "bind", Source: "/dev/null", Target: "/etc/x"}, {Type: "bind", Source: "/dev/null", Target: "/dev/null"}}
	for i := 3; i < len(covered); i++ {
		if inFreshTmpfs(covered, i) {
			t.Errorf("%s, after the overlay covered the tmpfs: inFreshTmpfs = true", covered[i].Target)
		}
	}
	cfg := &initConfig{Root: "/tmp/root"}
	cfg.Component.Image = &plan.Image{Ref: "oci:/img"}
	cfg.Component.Mounts = ms[:10]
	p := &stage.Program{}
	if err := renderMounts(cfg, p); err != nil {
		t.Fatal(err)
	}
	checks := 0
	for _, c := range opCodes(p) {
		if c == stage.OpSafeTarget {
			checks++
		}
	}
	if checks != 5 { // /proc, /dev, /data, /data/tmp, /data/tmp/null
		t.Errorf("%d OP_SAFE_TARGETs, want 5: %v", checks, opCodes(p))
	}
}
