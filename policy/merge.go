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

// profileNames lists the built-in profiles, for "did you mean" hints. They are embedded,
// so listed once: every compile that extends a profile asks.
func profileNames() []string { return slices.Clone(builtinProfiles()) }

var builtinProfiles = sync.OnceValue(func() []string {
	entries, _ := fs.Glob(profiles.FS, "*.yaml")
	var names []string
	for _, e := range entries {
		if n := strings.TrimSuffix(e, ".yaml"); n+".yaml" != profiles.GroupsFile {
			names = append(names, n)
		}
	}
	return names
})

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
	p := profileTable(name)
	if p == nil { // a profile added without go test ./policy -run ProfilesTable -update
		if p = loadProfileYAML(name, errs); p == nil {
			return nil
		}
	}
	loadedProfiles.Store(name, p)
	return p
}

// loadProfileYAML loads a built-in profile from its file in profiles/, with its origins
// under that directory, as profiles_table.go holds it.
func loadProfileYAML(name string, errs *ErrorList) *Component {
	p, err := Load(profiles.FS, name+".yaml")
	if err != nil {
		*errs = appendErr(*errs, err)
		return nil
	}
	p.recordOrigins("profiles/" + name + ".yaml")
	return p
}

// Effective returns c with its profiles merged in: `extends:` profiles first, in order, then
// c itself on top; `syscalls.extends` merges the named profile's syscalls section the same
// way. Path, capability and best_effort lists are unioned (base entries first), network
// and syscall lists are appended (compile removes repeats), maps merge per key, and
// scalars set in c override the profile's; a file cannot unset what a profile sets. Deny winning over allow is applied at compile time.
// The result's syscall rule lists may be a cached built-in profile's (clipped): append to
// them, but never write one of their rules in place.
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
			merge(out, resolveProfile(p, name, chain, errs))
		}
	}
	self := *c
	if name := c.Syscalls.Extends; name != "" {
		path := "syscalls.extends"
		if slices.Contains(chain, "syscalls:"+name) {
			errs.Add(c.pos.at(path), path, "profile cycle: %s -> %s", strings.Join(chain, " -> "), name)
		} else if p := loadProfile(name, c.pos.at(path), path, errs); p != nil {
			base := resolveProfile(p, "syscalls:"+name, chain, errs)
			// Clipped, base's lists (shared) are copied by the first append.
			self.Syscalls = Syscalls{Allow: slices.Clip(base.Syscalls.Allow), Deny: slices.Clip(base.Syscalls.Deny), OnViolation: base.Syscalls.OnViolation}
			mergeSyscalls(&self.Syscalls, c.Syscalls)
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

// resolvedProfiles caches built-in profiles with their own profiles merged, by chain
// entry (name, or "syscalls:"+name): they never change, and a file may extend one many
// times. Only a resolution without errors is kept, so a cycle is reported every time.
var resolvedProfiles sync.Map

// resolveProfile is resolve for the built-in profile p, entered as key from chain. The
// result is shared: merge only reads its src.
func resolveProfile(p *Component, key string, chain []string, errs *ErrorList) *Component {
	if r, ok := resolvedProfiles.Load(key); ok {
		return r.(*Component)
	}
	var own ErrorList
	r := resolve(p, append(chain, key), &own)
	*errs = append(*errs, own...)
	if len(own) == 0 {
		resolvedProfiles.Store(key, r)
	}
	return r
}

// merge lays src over dst. dst's lists are its own (merge appends to them in place,
// which keeps repeated merging linear); src is only read.
func merge(dst, src *Component) {
	dst.Version = or(src.Version, dst.Version)
	dst.Name = or(src.Name, dst.Name)
	r := &dst.Run
	if len(src.Run.Command) > 0 {
		r.Command = src.Run.Command
	}
	r.Rootfs = or(src.Run.Rootfs, r.Rootfs)
	r.Image = or(src.Run.Image, r.Image)
	if src.Run.User != "" {
		r.User, r.user = src.Run.User, src.Run.user
	}
	r.Workdir = or(src.Run.Workdir, r.Workdir)
	r.Hostname = or(src.Run.Hostname, r.Hostname)
	if src.Run.Exec != nil {
		r.Exec = src.Run.Exec
	}
	r.Restart = or(src.Run.Restart, r.Restart)
	r.DependsOn = unionInto(r.DependsOn, src.Run.DependsOn)
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
	f.Read = unionInto(f.Read, src.Filesystem.Read)
	f.Write = unionInto(f.Write, src.Filesystem.Write)
	f.Tmpfs = unionInto(f.Tmpfs, src.Filesystem.Tmpfs)
	for p, on := range src.Filesystem.Idmap {
		if f.Idmap == nil {
			f.Idmap = map[string]bool{}
		}
		f.Idmap[p] = on
	}
	for p, name := range src.Filesystem.Volumes {
		if f.Volumes == nil {
			f.Volumes = map[string]string{}
		}
		f.Volumes[p] = name
	}
	r.Groups = unionInto(r.Groups, src.Run.Groups)
	f.Bind = append(f.Bind, src.Filesystem.Bind...)
	r.EnvFromHost = unionInto(r.EnvFromHost, src.Run.EnvFromHost)
	r.EnvFile, r.envFileAbs = or(src.Run.EnvFile, r.EnvFile), or(src.Run.envFileAbs, r.envFileAbs)
	dst.Network.Listen = append(dst.Network.Listen, src.Network.Listen...)
	dst.Network.Connect = append(dst.Network.Connect, src.Network.Connect...)
	dst.Network.Unix = append(dst.Network.Unix, src.Network.Unix...)
	f.Share = append(f.Share, src.Filesystem.Share...)
	mergeSyscalls(&dst.Syscalls, src.Syscalls)
	dst.Capabilities = unionInto(dst.Capabilities, src.Capabilities)
	res := &dst.Resources
	if src.Resources.Memory != "" {
		res.Memory, res.memory = src.Resources.Memory, src.Resources.memory
	}
	res.Pids = or(src.Resources.Pids, res.Pids)
	res.CPU = or(src.Resources.CPU, res.CPU)
	res.Nofile = or(src.Resources.Nofile, res.Nofile)
	dst.BestEffort = unionInto(dst.BestEffort, src.BestEffort)
	dst.Mode = or(src.Mode, dst.Mode)
}

// mergeSyscalls lays over on base, appending to base's own lists. An empty list takes
// over's clipped instead of a copy (a profile's hundred rules): the first append copies
// it, and nothing writes a merged rule in place (resolve's self shares a profile's so).
func mergeSyscalls(base *Syscalls, over Syscalls) {
	base.Extends = over.Extends
	base.Allow = appendRules(base.Allow, over.Allow)
	base.Deny = appendRules(base.Deny, over.Deny)
	base.OnViolation = or(over.OnViolation, base.OnViolation)
}

func appendRules(base, over []SyscallRule) []SyscallRule {
	if len(base) == 0 {
		return slices.Clip(over)
	}
	return append(base, over...)
}

func or[T comparable](v, fallback T) T {
	var zero T
	if v != zero {
		return v
	}
	return fallback
}

// unionInto appends to a (which it may reuse) the items of b missing from it, keeping
// first-seen order.
func unionInto(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	have := make(map[string]bool, len(a)+len(b))
	for _, s := range a {
		have[s] = true
	}
	for _, s := range b {
		if !have[s] {
			have[s] = true
			a = append(a, s)
		}
	}
	return a
}
