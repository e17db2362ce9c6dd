package sandbox

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// opCodes lists a program's op codes from its wire form, the step markers left out.
func opCodes(p *stage.Program) []uint16 {
	b, le := p.Bytes(), binary.LittleEndian
	var codes []uint16
	for pos := 24; pos < len(b); {
		code, nint, nstr := le.Uint16(b[pos:]), int(le.Uint16(b[pos+4:])), int(le.Uint16(b[pos+6:]))
		pos += 8 + 8*nint
		for range nstr {
			pos += 4 + int(le.Uint32(b[pos:])) + 1
		}
		if code != stage.OpStep {
			codes = append(codes, code)
		}
	}
	return codes
}

func imageConfig() *initConfig {
	cfg := &initConfig{Root: "/tmp/root", Hosts: "127.0.0.1 db\n", Resolv: "nameserver 10.96.0.1\n"}
	c := &cfg.Component
	c.Image = &plan.Image{Ref: "oci:/img"}
	c.Process.UID, c.Process.GID = 1000, 1001
	c.Mounts = []plan.Mount{
		{Type: "overlay", Target: "/", Options: []string{"ro", "nosuid", "nodev"}, Why: "run.image"},
		{Type: "proc", Source: "proc", Target: "/proc", Why: "proc"},
		{Type: "bind", Source: "/dev/null", Target: "/dev/null", Why: "dev"},
		{Type: "upper", Target: "/scratch", Why: "filesystem.write"},
		{Type: "volume", Volume: "v", Target: "/data", Why: "filesystem.write"},
	}
	return cfg
}

// TestRenderImage: an image renders into the C stage, each mount in setupRootfs's
// order: the overlay and the volume attach the parent's mounts, every other target but
// an upper's is walked by safeTarget first, /etc/hosts and resolv.conf are checked
// before the stack's files go over them, and the root stays as the overlay made it (no read-only tmpfs
// remount). With a named user an upper's made directory waits for OP_USER, which
// chowns it once the name resolves, as the Go init's chownLater does.
func TestRenderImage(t *testing.T) {
	p := &stage.Program{}
	if err := renderMounts(imageConfig(), p); err != nil {
		t.Fatalf("an image: %v, want the C stage", err)
	}
	want := []uint16{stage.OpMount, stage.OpRecvMounts, stage.OpStageHosts,
		stage.OpAttach,
		stage.OpSafeTarget, stage.OpMount,
		stage.OpSafeTarget, stage.OpBind,
		stage.OpUpper,
		stage.OpSafeTarget, stage.OpAttach,
		stage.OpSymlink, stage.OpSymlink, stage.OpSymlink, stage.OpSymlink, stage.OpSymlink,
		stage.OpSafeTarget, stage.OpMountHosts, stage.OpSafeTarget, stage.OpMountHosts,
		stage.OpReadonly, stage.OpPivot}
	if got := opCodes(p); !slices.Equal(got, want) {
		t.Errorf("ops %v, want %v", got, want)
	}

	// A named user: the upper waits for OP_USER, which gives a made one to the ids.
	cfg := imageConfig()
	cfg.Component.Process.User = "app"
	p = &stage.Program{}
	if err := renderMounts(cfg, p); err != nil {
		t.Errorf("a named user with a write path: %v, want the C stage", err)
	}
	if !slices.Equal(cfg.chownLater, []string{upperTarget(cfg)}) {
		t.Errorf("chownLater %q, want the upper's target", cfg.chownLater)
	}

	// A rootfs with a volume: no image, no safeTarget; the volume attaches.
	cfg = &initConfig{Root: "/tmp/root"}
	cfg.Component.Process.Rootfs = "/srv/rootfs"
	cfg.Component.Mounts = []plan.Mount{{Type: "volume", Volume: "v", Target: "/data", Why: "filesystem.write"}}
	p = &stage.Program{}
	if err := renderMounts(cfg, p); err != nil {
		t.Fatalf("a rootfs with a volume: %v, want the C stage", err)
	}
	if got := opCodes(p); slices.Contains(got, stage.OpSafeTarget) || !slices.Contains(got, stage.OpAttach) {
		t.Errorf("a rootfs with a volume: ops %v", got)
	}
}

// TestRenderImageCheckThenMount: every OP_SAFE_TARGET is followed by the op that mounts
// its target, never by another check: the stage holds only the target checked last
// (stage_image.c), so a check in between leaves the mount to walk the path again, where
// a volume's co-tenant may have put a link since (the /etc/hosts check was lost to
// resolv.conf's when both were checked before either was mounted).
func TestRenderImageCheckThenMount(t *testing.T) {
	p := &stage.Program{}
	if err := renderMounts(imageConfig(), p); err != nil {
		t.Fatal(err)
	}
	codes := opCodes(p)
	for i, c := range codes {
		if c == stage.OpSafeTarget && (i+1 == len(codes) || codes[i+1] == stage.OpSafeTarget) {
			t.Errorf("op %d: a check not followed by its mount: %v", i, codes)
		}
	}
}

// TestImageFormat words the image ops' failures as safeTarget and mountImageOne do.
func TestImageFormat(t *testing.T) {
	f := imageFormat("upper /link/x (filesystem.write)")
	for _, c := range []struct {
		e    stage.Error
		want string
	}{
		{stage.Error{Kind: 1, Detail: "/link"}, "upper /link/x (filesystem.write): /link is a symlink in the image: refused (a mount onto it would follow the link)"},
		{stage.Error{Kind: 2, Detail: "/etc/motd"}, "upper /link/x (filesystem.write): /etc/motd is not a directory in the image"},
		{stage.Error{Kind: 3}, "upper /link/x (filesystem.write): the parent passed no mount for it"},
		{stage.Error{Errno: 13, Detail: "/var"}, "upper /link/x (filesystem.write): /var: permission denied"},
	} {
		if got := f(c.e); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

// upperTarget is the target of cfg's upper mount.
func upperTarget(cfg *initConfig) string {
	for _, m := range cfg.Component.Mounts {
		if m.Type == "upper" {
			return m.Target
		}
	}
	return ""
}
