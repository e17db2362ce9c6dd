package sandbox

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// renderMounts is setupRootfs as C stage ops, call for call, an image's and volumes'
// mounts included (render_image_linux.go).
func renderMounts(cfg *initConfig, p *stage.Program) error {
	c := &cfg.Component
	if len(c.Mounts) > stage.MaxMounts {
		return errGoInit
	}
	ahead := procAhead(c.Mounts)
	p.Add(stage.OpMount, []uint64{unix.MS_REC | unix.MS_PRIVATE, 0}, []string{"", "/", "", ""}, stage.Prefixed("making mounts private"))
	p.Add(stage.OpRecvMounts, nil, nil, nil)
	if cfg.Hosts != "" {
		p.Add(stage.OpStageHosts, nil, []string{cfg.Root, cfg.Hosts, cfg.Resolv}, stage.Prefixed("/etc/hosts"))
	}
	for i, m := range c.Mounts {
		target := filepath.Join(cfg.Root, m.Target)
		prefix := fmt.Sprintf("%s %s (%s)", m.Type, m.Target, m.Why)
		if m.Why == "filesystem.bind" {
			if missing := missingBindTarget(c.Mounts, i); missing != nil {
				bindPrefix := fmt.Sprintf("bind %s (filesystem.bind): ", m.Target)
				p.Add(stage.OpRequire, nil, []string{target}, func(e stage.Error) string {
					if e.Kind == 1 {
						return bindPrefix + missing.Error()
					}
					return bindPrefix + e.Cause()
				})
			}
		}
		handled, err := renderImageOne(cfg, i, m, prefix, p)
		if err != nil {
			return err
		}
		if handled {
			continue
		}
		flags, data := mountOptions(m)
		switch m.Type {
		case "bind":
			same := uint64(0)
			if m.Target == m.Source {
				same = 1
			}
			p.Add(stage.OpBind, []uint64{uint64(i), uint64(flags), same}, []string{m.Source, target}, stage.Prefixed(prefix))
		default:
			if ahead && m.Type == "proc" {
				p.Add(stage.OpAhead, []uint64{stage.AheadProc, 1}, nil, nil)
			}
			p.Add(stage.OpMount, []uint64{uint64(flags), 1}, []string{m.Source, target, m.Type, data}, stage.Prefixed(prefix))
		}
	}
	for _, link := range devLinks {
		p.Add(stage.OpSymlink, nil, []string{link[0], filepath.Join(cfg.Root, link[1])}, nil)
	}
	if cfg.Hosts != "" {
		renderHosts(cfg, p)
	}
	root := cfg.Root
	p.Add(stage.OpReadonly, nil, nil, func(e stage.Error) string {
		return fmt.Sprintf("read-only %s: %v", strings.TrimPrefix(e.Detail, root), e.Errno)
	})
	p.Add(stage.OpPivot, nil, []string{root}, stage.Prefixed("pivot_root"))
	if ahead {
		p.Add(stage.OpAhead, []uint64{stage.AheadMasks, uint64(len(c.MaskedPaths) + len(c.ReadonlyPaths))}, nil, nil)
	}
	for _, path := range c.MaskedPaths {
		p.Add(stage.OpMask, nil, []string{path}, stage.Prefixed("masking "+path))
	}
	for _, path := range c.ReadonlyPaths {
		p.Add(stage.OpBindRO, nil, []string{path}, stage.Prefixed("read-only "+path))
	}
	if c.Process.Rootfs == "" && c.Image == nil {
		p.Add(stage.OpMount, []uint64{unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV, 0},
			[]string{"", "/", "", ""}, stage.Prefixed("read-only root"))
	}
	return nil
}

// renderHosts is mountHosts for the staged /etc/hosts and, when given, resolv.conf.
func renderHosts(cfg *initConfig, p *stage.Program) {
	inRootfs := uint64(0)
	if cfg.Component.Process.Rootfs != "" {
		inRootfs = 1
	}
	for i, name := range []string{"/etc/hosts", "/etc/resolv.conf"} {
		if i == 1 && cfg.Resolv == "" {
			break
		}
		renderImageHosts(cfg, name, p)
		p.Add(stage.OpMountHosts, []uint64{uint64(i), inRootfs}, []string{filepath.Join(cfg.Root, name)}, func(e stage.Error) string {
			if e.Kind == 1 {
				return name + ": the rootfs has no /etc/hosts for the stack's names to be mounted over; create an empty one"
			}
			return name + ": " + e.Cause()
		})
	}
}

// devLinks are the links setupRootfs makes in /dev: target, link.
var devLinks = [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"}}

// mountOptions splits a mount's options into mount(2) flags and its data.
func mountOptions(m plan.Mount) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			flags |= f
		} else {
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}
