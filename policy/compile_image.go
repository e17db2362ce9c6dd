package policy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/confine-sandbox/confine/policy/plan"
)

// ImageFacts is what compile needs of an image. The caller reads them from the image
// store (cmd/confine's resolver), so compile stays pure: the same policy and the same
// store content give the same Plan. Everything here came from an untrusted image.
type ImageFacts struct {
	Digest       string   // the manifest's, sha256:HEX
	ConfigDigest string   // the config's
	DiffIDs      []string // bottom first
	Entrypoint   []string
	Cmd          []string
	Env          []string // KEY=value
	// User is the config's User as written; UID and GID are it resolved against the
	// image's own /etc/passwd and /etc/group (when User is not empty).
	User         string
	UID, GID     uint32
	WorkingDir   string
	ExposedPorts []string
	Volumes      []string
}

// ImageResolver finds the image a run.image names (the reference as ImageRef gives it).
type ImageResolver interface {
	ResolveImage(ref string) (*ImageFacts, error)
}

// volumeName is a volume's name: it becomes a directory of the store.
var volumeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })

// ImageRef is c's run.image with a relative oci: or docker-archive: path joined to the
// policy file's directory, as run.rootfs is.
func ImageRef(c *Component) string {
	ref := c.Run.Image
	for _, scheme := range []string{"oci:", "docker-archive:"} {
		if p, ok := strings.CutPrefix(ref, scheme); ok && p != "" && !path.IsAbs(p) {
			return scheme + path.Join(path.Dir(c.File), p)
		}
	}
	return ref
}

// CompileWith is Compile for policies that name images: r gives each run.image's facts.
// Compile is CompileWith without a resolver, which refuses run.image.
func CompileWith(s *Stack, r ImageResolver) (*plan.Plan, error) { return compileWith(s, r, nil) }

func compileWith(s *Stack, r ImageResolver, programs ProgramStore) (*plan.Plan, error) {
	errs, effective := validate(s)
	if len(errs) > 0 {
		return nil, errs
	}
	images := map[string]*ImageFacts{}
	for _, c := range s.Members {
		if c.Run.Image == "" {
			continue
		}
		if r == nil {
			errs.Add(c.pos.at("run.image"), "run.image", "an image needs the image store; this command cannot read it")
			continue
		}
		f, err := r.ResolveImage(ImageRef(c))
		if err != nil {
			errs.Add(c.pos.at("run.image"), "run.image", "%v", err)
			continue
		}
		images[c.Name] = f
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return compile(s, effective, images, programs)
}

// withImageDefaults fills in what the policy left out from the image's config: the
// command, the environment under the policy's, the user and the working directory. It
// returns the names of what it filled in. It never adds a path, a port or a privilege.
func withImageDefaults(c *Component, f *ImageFacts) (defaults []string, errs ErrorList) {
	at := c.pos.at("run.image")
	r := &c.Run
	env := map[string]string{}
	for k, v := range r.Env {
		env[k] = v
	}
	r.Env = env
	if len(r.Command) == 0 {
		r.Command = append(append([]string{}, f.Entrypoint...), f.Cmd...)
		defaults = append(defaults, "command")
		if len(r.Command) == 0 {
			errs.Add(at, "run.image", "the image has no Entrypoint or Cmd; set run.command")
		} else if msg := checkPath(r.Command[0]); msg != "" {
			errs.Add(at, "run.image", "the image's command %q: %s; set run.command", r.Command[0], msg)
		}
	}
	for _, kv := range f.Env {
		k, v, _ := strings.Cut(kv, "=")
		if !envKey().MatchString(k) || hasControl(v) {
			errs.Add(at, "run.image", "the image's Env entry %q is not KEY=printable text", kv)
			continue
		}
		if _, set := r.Env[k]; !set {
			r.Env[k] = v
			defaults = append(defaults, "env "+k)
		}
	}
	if r.User == "" && f.User != "" {
		r.User = fmt.Sprintf("%d:%d", f.UID, f.GID)
		r.user = parsed[User]{v: User{UID: f.UID, GID: f.GID}}
		defaults = append(defaults, "user")
	}
	if r.Workdir == "" && f.WorkingDir != "" {
		if msg := checkPath(f.WorkingDir); msg != "" {
			errs.Add(at, "run.image", "the image's WorkingDir %q: %s; set run.workdir", f.WorkingDir, msg)
		}
		r.Workdir = f.WorkingDir
		defaults = append(defaults, "workdir")
	}
	sort.Strings(defaults)
	return defaults, errs
}

// compileImage pins the image and makes its root: the layers read-only under an
// overlay whose upper is the run's own, the root mount read-only, each write path a
// writable bind of the same overlay (the upper: gone after the run) or a volume (kept).
// The whole image is readable to Landlock; writes only where declared. Applied by
// imageMounts (sandbox/overlay_linux.go) and setupRootfs.
func compileImage(c *Component, cp *plan.Component, f *ImageFacts, defaults []string) {
	cp.Image = &plan.Image{Ref: ImageRef(c), Digest: f.Digest, ConfigDigest: f.ConfigDigest,
		DiffIDs: append([]string{}, f.DiffIDs...), Defaults: defaults,
		ExposedPorts: sortedOrNil(f.ExposedPorts), Volumes: sortedOrNil(f.Volumes)}
	if slices.Contains(defaults, "user") {
		cp.Image.User = f.User
	}
	m := []plan.Mount{{Type: "overlay", Target: "/", Options: []string{"ro", "nosuid", "nodev"},
		Why: "run.image: its layers read-only, the run's own upper; the root mount is read-only"}}
	for _, p := range c.Filesystem.Write {
		if name := c.Filesystem.Volumes[p]; name != "" {
			m = append(m, plan.Mount{Type: "volume", Volume: name, Target: p, Options: []string{"nosuid", "nodev"}, Idmap: true, Why: "filesystem.write: volume " + name + " (kept after the run)"})
		} else {
			m = append(m, plan.Mount{Type: "upper", Target: p, Options: []string{"nosuid", "nodev"}, Why: "filesystem.write: the run's upper (gone after the run)"})
		}
	}
	for i, mt := range cp.Mounts {
		// The tmpfs root and the host binds of read and write paths give way to the image.
		if i == 0 || mt.Why == "filesystem.read" || mt.Why == "filesystem.write" {
			continue
		}
		m = append(m, mt)
	}
	cp.Mounts = m
	cp.Landlock.Paths = append(cp.Landlock.Paths, plan.PathRule{Path: "/", Access: sorted(fsRead),
		Why: "run.image: the whole image is readable (its root mount is read-only)"})
	sort.SliceStable(cp.Landlock.Paths, func(i, j int) bool { return cp.Landlock.Paths[i].Path < cp.Landlock.Paths[j].Path })
}

// compileVolumes makes the {path, volume} write entries of a component without an
// image volume mounts in place of host binds.
func compileVolumes(c *Component, cp *plan.Component) {
	for i, mt := range cp.Mounts {
		if name := c.Filesystem.Volumes[mt.Target]; mt.Why == "filesystem.write" && name != "" {
			cp.Mounts[i] = plan.Mount{Type: "volume", Volume: name, Target: mt.Target, Options: mt.Options, Idmap: true, Why: "filesystem.write: volume " + name + " (kept after the run)"}
		}
	}
}

// sortedOrNil is sorted, nil when empty: the Plan's JSON omits both, and a Plan read
// back (a kept one, run --plan's) is then the Plan compiled.
func sortedOrNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return sorted(s)
}
