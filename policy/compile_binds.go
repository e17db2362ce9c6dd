package policy

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/confine-sandbox/confine/policy/plan"
)

// OptBool is a true/false value that remembers whether it was written: 0 when it was
// not, else optFalse or optTrue.
type OptBool uint8

const (
	optFalse OptBool = iota + 1
	optTrue
)

// or is the value written, or def.
func (o OptBool) or(def bool) bool {
	if o == 0 {
		return def
	}
	return o == optTrue
}

func (o *OptBool) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	b, err := strconv.ParseBool(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
		d.errorf(n, path, "expected true or false, found %s", describe(n))
		return
	}
	*o = optFalse
	if b {
		*o = optTrue
	}
}

// absResolver is implemented by a filesystem that can name a file's absolute path
// (cmd/confine's host filesystem), so a relative bind source or env_file is recorded in
// the Plan as the absolute path it means, whatever directory the supervisor runs in.
type absResolver interface {
	Abs(name string) (string, error)
}

// policyDir is the directory relative sources resolve against: the policy file's, made
// absolute when fsys can say where it is.
func policyDir(fsys fs.FS, name string) string {
	if r, ok := fsys.(absResolver); ok {
		if abs, err := r.Abs(name); err == nil {
			return path.Dir(abs)
		}
	}
	return path.Dir(name)
}

// resolveSources records, for each bind and the env_file, the path it names: absolute
// as written, or joined to the policy file's directory. Nothing is read.
func (c *Component) resolveSources(fsys fs.FS, name string) {
	dir := policyDir(fsys, name)
	for i := range c.Filesystem.Bind {
		c.Filesystem.Bind[i].abs = resolveAgainst(dir, c.Filesystem.Bind[i].Source)
	}
	c.Run.envFileAbs = resolveAgainst(dir, c.Run.EnvFile)
}

func resolveAgainst(dir, p string) string {
	if p == "" || path.IsAbs(p) {
		return p
	}
	return path.Join(dir, p)
}

// binds checks filesystem.bind as written. Sources are not looked at: check and explain
// never read them.
func (v *validator) binds() {
	f := v.c.Filesystem
	targets := map[string]string{}
	listed := map[string]string{}
	for _, l := range []struct {
		key   string
		paths []string
	}{{"read", f.Read}, {"write", f.Write}, {"tmpfs", f.Tmpfs}} {
		for i, p := range l.paths {
			listed[p] = fmt.Sprintf("filesystem.%s[%d]", l.key, i)
		}
	}
	for i, b := range f.Bind {
		field := fmt.Sprintf("filesystem.bind[%d]", i)
		switch {
		case b.Source == "":
			v.add(field, "expected source: the host file or directory to bind (absolute, or relative to the policy file)")
		case hasControl(b.Source) || hasInvisible(b.Source):
			v.add(field+".source", "path %q contains a control or invisible character", b.Source)
		}
		if b.Target == "" {
			v.add(field, "expected target: the absolute path it appears at in the sandbox")
			continue
		}
		if msg := checkPath(b.Target); msg != "" {
			v.add(field+".target", "%s", msg)
			continue
		}
		if b.Target == "/" {
			v.add(field+".target", "a bind cannot replace the whole root; use run.rootfs")
			continue
		}
		for _, own := range []string{"/proc", "/dev"} {
			if within(b.Target, own) {
				v.add(field+".target", "%s lies inside %s, which confine mounts itself; it cannot be declared", b.Target, own)
			}
		}
		if prev, ok := targets[b.Target]; ok {
			v.add(field+".target", "%s is already a target at %s; bind each target once", b.Target, prev)
		} else if prev, ok := listed[b.Target]; ok {
			v.add(field+".target", "%s is already listed at %s; a bind goes inside a listed directory, not on it", b.Target, prev)
		}
		targets[b.Target] = field
		for p, at := range listed {
			if p != b.Target && within(p, b.Target) {
				v.add(at, "%s lies inside the bind target %s (%s), which is mounted over it and would hide it", p, b.Target, field)
			}
		}
	}
}

// hasInvisible reports format characters (zero-width, bidirectional controls) and
// C1 controls, which would make a path read as another in explain's output.
func hasInvisible(s string) bool {
	for _, r := range s {
		if (r >= 0x80 && r < 0xa0) || (r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) ||
			(r >= 0x2060 && r <= 0x2069) || r == 0xfeff || r == 0xfffd {
			return true
		}
	}
	return false
}

// bindTargets are the paths binds make visible, for the command and workdir checks.
func bindTargets(f Filesystem) []string {
	var out []string
	for _, b := range f.Bind {
		out = append(out, b.Target)
	}
	return out
}

// bindMounts are the binds' mounts, made after read, write and tmpfs paths so that a
// target inside any of them goes on top (setupRootfs, sandbox/mounts_linux.go; mount
// points are made only where the sandbox's own tmpfs holds them, sandbox/binds_linux.go).
func bindMounts(c *Component) []plan.Mount {
	var m []plan.Mount
	for _, b := range c.Filesystem.Bind {
		opts := []string{"nosuid", "nodev"}
		if !b.Write {
			opts = append([]string{"ro"}, opts...)
		}
		idmap := b.Idmap.or(b.Write)
		m = append(m, plan.Mount{Type: "bind", Source: or(b.abs, b.Source), Target: b.Target, Options: opts, Idmap: idmap, Why: "filesystem.bind"})
	}
	return m
}

// bindRules are the Landlock rules for the bind targets: read, or read and write.
func bindRules(c *Component) []plan.PathRule {
	var out []plan.PathRule
	readWrite := sorted(append(append([]string{}, fsRead...), fsWrite...))
	for _, b := range c.Filesystem.Bind {
		access := sorted(fsRead)
		if b.Write {
			access = readWrite
		}
		out = append(out, plan.PathRule{Path: b.Target, Access: access, Why: c.origin("filesystem.bind", b.Target)})
	}
	return out
}
