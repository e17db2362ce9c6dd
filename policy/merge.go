package policy

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/confine-sandbox/confine/profiles"
)

// profileNames lists the built-in profiles, for "did you mean" hints.
func profileNames() []string {
	entries, _ := fs.Glob(profiles.FS, "*.yaml")
	var names []string
	for _, e := range entries {
		if n := strings.TrimSuffix(e, ".yaml"); n+".yaml" != profiles.GroupsFile {
			names = append(names, n)
		}
	}
	return names
}

// loadedProfiles caches parsed built-in profiles by name: they are embedded, so never
// change, and merging only reads them.
var loadedProfiles sync.Map

// loadProfile loads a built-in profile by name, reporting an unknown name at pos.
func loadProfile(name string, pos Pos, path string, errs *ErrorList) *Component {
	if p, ok := loadedProfiles.Load(name); ok {
		return p.(*Component)
	}
	if !slices.Contains(profileNames(), name) {
		errs.Add(pos, path, "unknown profile %q%s; built-in profiles: %s", name, suggest(name, profileNames()), strings.Join(profileNames(), ", "))
		return nil
	}
	p, err := Load(profiles.FS, name+".yaml")
	if err != nil {
		*errs = appendErr(*errs, err)
		return nil
	}
	p.recordOrigins("profiles/" + name + ".yaml")
	loadedProfiles.Store(name, p)
	return p
}

// Effective returns c with its profiles merged in: `extends:` profiles first, in order, then
// c itself on top; `syscalls.extends` merges the named profile's syscalls section the same
// way. Path, capability and best_effort lists are unioned (base entries first), network
// and syscall lists are appended (compile removes repeats), maps merge per key, and
// scalars set in c override the profile's; a file cannot unset what a profile sets. Deny winning over allow is applied at compile time.
func Effective(c *Component) (*Component, ErrorList) {
	var errs ErrorList
	out := resolve(c, nil, &errs)
	return out, errs
}

// resolve merges c's profiles; chain holds the profiles being resolved, to find cycles.
func resolve(c *Component, chain []string, errs *ErrorList) *Component {
	out := &Component{}
	for i, name := range c.Extends {
		path := fmt.Sprintf("extends[%d]", i)
		if slices.Contains(chain, name) {
			errs.Add(c.pos.at(path), path, "profile cycle: %s -> %s", strings.Join(chain, " -> "), name)
			continue
		}
		if p := loadProfile(name, c.pos.at(path), path, errs); p != nil {
			merge(out, resolve(p, append(chain, name), errs))
		}
	}
	self := *c
	if name := c.Syscalls.Extends; name != "" {
		path := "syscalls.extends"
		if slices.Contains(chain, "syscalls:"+name) {
			errs.Add(c.pos.at(path), path, "profile cycle: %s -> %s", strings.Join(chain, " -> "), name)
		} else if p := loadProfile(name, c.pos.at(path), path, errs); p != nil {
			base := resolve(p, append(chain, "syscalls:"+name), errs)
			self.Syscalls = mergeSyscalls(base.Syscalls, c.Syscalls)
			self.origins = maps.Clone(c.origins)
			for k, v := range base.origins {
				if _, own := self.origins[k]; !own && strings.HasPrefix(k, "syscalls.deny ") {
					self.origins[k] = v
				}
			}
		}
	}
	self.Syscalls.Extends = ""
	self.Extends = nil
	merge(out, &self)
	out.File, out.Source, out.pos = c.File, c.Source, c.pos
	return out
}

// merge lays src over dst.
func merge(dst, src *Component) {
	dst.Version = or(src.Version, dst.Version)
	dst.Name = or(src.Name, dst.Name)
	r := &dst.Run
	if len(src.Run.Command) > 0 {
		r.Command = src.Run.Command
	}
	r.Rootfs = or(src.Run.Rootfs, r.Rootfs)
	r.User = or(src.Run.User, r.User)
	r.Workdir = or(src.Run.Workdir, r.Workdir)
	r.Hostname = or(src.Run.Hostname, r.Hostname)
	r.Restart = or(src.Run.Restart, r.Restart)
	r.DependsOn = union(r.DependsOn, src.Run.DependsOn)
	if !src.Run.Health.empty() {
		r.Health = src.Run.Health
	}
	for k, v := range src.Run.Env {
		if r.Env == nil {
			r.Env = map[string]string{}
		}
		r.Env[k] = v
	}
	if dst.origins == nil {
		dst.origins = map[string]string{}
	}
	maps.Copy(dst.origins, src.origins)
	f := &dst.Filesystem
	f.Read = union(f.Read, src.Filesystem.Read)
	f.Write = union(f.Write, src.Filesystem.Write)
	f.Tmpfs = union(f.Tmpfs, src.Filesystem.Tmpfs)
	for p, on := range src.Filesystem.Idmap {
		if f.Idmap == nil {
			f.Idmap = map[string]bool{}
		}
		f.Idmap[p] = on
	}
	r.Groups = union(r.Groups, src.Run.Groups)
	f.Bind = append(f.Bind, src.Filesystem.Bind...)
	r.EnvFromHost = union(r.EnvFromHost, src.Run.EnvFromHost)
	r.EnvFile, r.envFileAbs = or(src.Run.EnvFile, r.EnvFile), or(src.Run.envFileAbs, r.envFileAbs)
	dst.Network.Listen = append(dst.Network.Listen, src.Network.Listen...)
	dst.Network.Connect = append(dst.Network.Connect, src.Network.Connect...)
	dst.Syscalls = mergeSyscalls(dst.Syscalls, src.Syscalls)
	dst.Capabilities = union(dst.Capabilities, src.Capabilities)
	res := &dst.Resources
	res.Memory = or(src.Resources.Memory, res.Memory)
	res.Pids = or(src.Resources.Pids, res.Pids)
	res.CPU = or(src.Resources.CPU, res.CPU)
	res.Nofile = or(src.Resources.Nofile, res.Nofile)
	dst.BestEffort = union(dst.BestEffort, src.BestEffort)
}

func mergeSyscalls(base, over Syscalls) Syscalls {
	return Syscalls{
		Extends:     over.Extends,
		Allow:       append(slices.Clone(base.Allow), over.Allow...),
		Deny:        append(slices.Clone(base.Deny), over.Deny...),
		OnViolation: or(over.OnViolation, base.OnViolation),
	}
}

func or[T comparable](v, fallback T) T {
	var zero T
	if v != zero {
		return v
	}
	return fallback
}

// union appends the items of b missing from a, keeping first-seen order.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
