package policy

import (
	"path"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// devices are bound from the host into the sandbox's /dev: the minimal set a runtime offers.
var devices = []string{"/dev/full", "/dev/null", "/dev/random", "/dev/tty", "/dev/urandom", "/dev/zero"}

// maskedPaths hide kernel state a component has no business reading (the set runc and
// Docker mask); readonlyPaths stay visible but cannot be written.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/interrupts", "/proc/kallsyms", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
		"/proc/timer_stats", "/sys/firmware",
	}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// compileMounts builds the mount table, applied by setupRootfs (sandbox/mounts_linux.go).
// Without a rootfs the root is an empty tmpfs holding only the declared host paths;
// with one, the rootfs is the root and declared paths are seen inside it.
func compileMounts(c *Component, cp *plan.Component) {
	var m []plan.Mount
	hostSource := func(p string) string {
		if cp.Process.Rootfs != "" {
			return path.Join(cp.Process.Rootfs, p)
		}
		return p
	}
	if cp.Process.Rootfs == "" {
		m = append(m, plan.Mount{Type: "tmpfs", Target: "/", Options: []string{"nosuid", "nodev", "mode=0755"}, Why: "root: an empty tmpfs holding only the mounts below"})
		if c.Mode == ModeAudit && c.Run.Image == "" {
			m = append(m, auditView(c)...)
		}
		// A parent before its children (a profile's /etc/ssl/certs, the file's /etc/ssl),
		// or binding the parent would hide the child's mount.
		for _, p := range parentsFirst(c.Filesystem.Read) {
			m = append(m, plan.Mount{Type: "bind", Source: p, Target: p, Options: []string{"ro", "nosuid", "nodev"}, Why: "filesystem.read", Idmap: c.Filesystem.idmapped(p, false)})
		}
	} else {
		// The rootfs is the component's own, idmapped like its write paths: its files
		// owned by host uid N show as N inside.
		m = append(m, plan.Mount{Type: "bind", Source: cp.Process.Rootfs, Target: "/", Options: []string{"ro", "nosuid", "nodev"}, Why: "run.rootfs, read-only", Idmap: true})
	}
	for _, p := range c.Filesystem.Write {
		m = append(m, plan.Mount{Type: "bind", Source: hostSource(p), Target: p, Options: []string{"nosuid", "nodev"}, Why: "filesystem.write", Idmap: c.Filesystem.idmapped(p, true)})
	}
	for _, p := range c.Filesystem.Tmpfs {
		m = append(m, plan.Mount{Type: "tmpfs", Target: p, Options: []string{"nosuid", "nodev", "mode=1777"}, Why: "filesystem.tmpfs"})
	}
	m = append(m, bindMounts(c)...)
	m = append(m,
		plan.Mount{Type: "proc", Source: "proc", Target: "/proc", Options: []string{"nosuid", "nodev", "noexec"}, Why: "a /proc for the new pid namespace"},
		plan.Mount{Type: "tmpfs", Source: "tmpfs", Target: "/dev", Options: []string{"nosuid", "noexec", "mode=0755"}, Why: "a minimal /dev"})
	for _, d := range devices {
		m = append(m, plan.Mount{Type: "bind", Source: d, Target: d, Options: []string{"nosuid", "noexec"}, Why: "a minimal /dev"})
	}
	m = append(m,
		plan.Mount{Type: "devpts", Source: "devpts", Target: "/dev/pts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}, Why: "a private pty namespace"},
		plan.Mount{Type: "tmpfs", Source: "shm", Target: "/dev/shm", Options: []string{"nosuid", "nodev", "noexec", "mode=1777"}, Why: "POSIX shared memory"})
	cp.Mounts = m
	cp.MaskedPaths = maskedPaths
	cp.ReadonlyPaths = readonlyPaths
}

// parentsFirst returns paths in their order, except that a path is moved in front of the
// first of the paths already placed that lie inside it.
func parentsFirst(paths []string) []string {
	var out []string
	for _, p := range paths {
		i := slices.IndexFunc(out, func(q string) bool { return p == "/" || strings.HasPrefix(q, p+"/") })
		if i < 0 {
			out = append(out, p)
		} else {
			out = slices.Insert(out, i, p)
		}
	}
	return out
}

// auditViewPaths are the host directories an audit-mode host-view component sees
// read-only besides its declared paths, so that what it reads there is observed and
// learned (`confine learn`). Being mounts and not declarations, they add no Landlock rule:
// every access beneath them is a would-be denial. /usr and the loader come from the
// host-runtime profile; /tmp, /run, /proc, /dev and /sys are the sandbox's own.
var auditViewPaths = []string{"/etc", "/home", "/opt", "/srv", "/var"}

func auditView(c *Component) []plan.Mount {
	var m []plan.Mount
	declared := append(append(slices.Clone(c.Filesystem.Read), c.Filesystem.Write...), c.Filesystem.Tmpfs...)
	for _, p := range auditViewPaths {
		if slices.ContainsFunc(declared, func(d string) bool { return d == p || d == "/" }) {
			continue
		}
		m = append(m, plan.Mount{Type: "bind", Source: p, Target: p, Options: []string{"ro", "nosuid", "nodev"}, Optional: true,
			Why: "audit mode: the host's " + p + ", read-only, so that what the program reads there is observed (not a grant)"})
	}
	return m
}
