// Package learn writes the least policy that would have allowed what a component did
// in an audit-mode run (`confine learn`): it folds the run's denial records into what
// was seen (Observe), and lays that over the policy the run used (RunPolicy), with a
// comment beside each entry saying what was seen. It is pure: it reads records and YAML
// and returns YAML; the caller runs the component and reads the log. Options.Exists and
// Options.Resolve are how the caller lets it ask about the host's files.
package learn

import (
	"fmt"
	"slices"
	"strings"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/confine-sandbox/confine/policy"
)

// Options are the questions Synthesize may ask about the host. Nil answers "yes, as
// named" to both.
type Options struct {
	// Exists reports whether a path exists where the component saw it (a read of a
	// missing path, a probe, is left out: a missing path cannot be bound).
	Exists func(path string) bool
	// Resolve returns where a path leads once its symlinks are followed ("" or the path
	// itself when nowhere else): a bound symlink needs its target bound too.
	Resolve func(path string) string
}

func (o Options) exists(p string) bool { return o.Exists == nil || o.Exists(p) }

func (o Options) resolve(p string) string {
	if o.Resolve == nil {
		return ""
	}
	return o.Resolve(p)
}

// Input is what Synthesize folds together.
type Input struct {
	Run     []byte // the policy the run used, as RunPolicy wrote it
	RunName string
	Seen    *Seen
	Old     []byte // an earlier learned policy to fold in (--merge), or nil
	OldName string
	Options Options
}

// Synthesize returns the learned policy: the run's policy without mode: audit, with the
// paths, ports, peers, capabilities and syscalls seen added to what it granted, and the
// old policy's grants folded in. The output is sorted and deterministic, and passes
// confine check (Synthesize checks it and returns an error if not).
func Synthesize(in Input) ([]byte, error) {
	if in.Seen == nil || in.Seen.Starts == 0 {
		return nil, fmt.Errorf("the audit log has no component.start record: the component never ran")
	}
	m, err := parseMapping(in.Run, in.RunName)
	if err != nil {
		return nil, err
	}
	m = clone(m)
	del(m, "mode")
	runPolicy, err := load(m, in.RunName, true)
	if err != nil {
		return nil, err
	}
	var old *yaml.Node
	var oldPolicy *policy.Component
	if in.Old != nil {
		if old, err = parseMapping(in.Old, in.OldName); err != nil {
			return nil, err
		}
		old = clone(old)
		del(old, "mode")
		// Its own rules only: a profile's allowlist it extends is not what was learned.
		if oldPolicy, err = load(old, in.OldName, false); err != nil {
			return nil, err
		}
	}
	g := grantsOf(runPolicy)
	files := foldFiles(in.Seen.Files, g, in.Options)
	writeFilesystem(m, old, files)
	writeNetwork(m, old, in.Seen)
	writeCapabilities(m, old, in.Seen)
	if err := writeSyscalls(m, oldPolicy, in.Seen); err != nil {
		return nil, err
	}
	mergeExtends(m, old)
	m.HeadComment = header(in, files)
	out, err := encode(m)
	if err != nil {
		return nil, err
	}
	if errs := policy.Check(fstest.MapFS{"learned.yaml": {Data: out}}, "learned.yaml"); len(errs) > 0 {
		return out, fmt.Errorf("the learned policy does not pass confine check (a bug in confine learn):\n%v", errs)
	}
	return out, nil
}

// load decodes a policy node as confine check would, with its profiles merged when
// effective.
func load(m *yaml.Node, name string, effective bool) (*policy.Component, error) {
	data, err := encode(m)
	if err != nil {
		return nil, err
	}
	if errs := policy.Check(fstest.MapFS{"policy.yaml": {Data: data}}, "policy.yaml"); len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", name, strings.ReplaceAll(errs.Error(), "policy.yaml", name))
	}
	c, err := policy.Load(fstest.MapFS{"policy.yaml": {Data: data}}, "policy.yaml")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.ReplaceAll(err.Error(), "policy.yaml", name))
	}
	if !effective {
		return c, nil
	}
	eff, errs := policy.Effective(c)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", name, errs)
	}
	return eff, nil
}

// grantsOf is what the run's policy let the component see and write.
func grantsOf(c *policy.Component) grants {
	g := grants{read: slices.Clone(c.Filesystem.Read)}
	g.write = append(slices.Clone(c.Filesystem.Write), c.Filesystem.Tmpfs...)
	for _, b := range c.Filesystem.Bind {
		if b.Write {
			g.write = append(g.write, b.Target)
		} else {
			g.read = append(g.read, b.Target)
		}
	}
	return g
}

// header is the comment at the top: where the policy comes from and what was left out.
func header(in Input, files fileNeeds) string {
	s := in.Seen
	lines := []string{
		fmt.Sprintf("Learned by confine learn from %d audit-mode run(s) of %s: %d would-be denials read (%d syscalls, %d paths, %d ports bound, %d destinations, %d capabilities seen).",
			s.Starts, s.Component, s.Denials, len(s.Syscalls), len(s.Files), len(s.Listen), len(s.Connect), len(s.Caps)),
		"Each entry says what was seen beside it; what the run's policy already granted is kept as it was.",
		fmt.Sprintf("Paths: a directory stands for its entries only where %d or more of them were touched, one level up at most, never a parent of what was only read.", CollapseAt),
		fmt.Sprintf("Syscalls: a @group where all of it was used; socket, ioctl, fcntl, prctl, personality and arch_prctl limited to the values seen where %d or fewer.", MaxValues),
	}
	if in.Old != nil {
		lines = append(lines, "Folded in: the grants of "+in.OldName+".")
	}
	if s.Enforced > 0 {
		lines = append(lines, fmt.Sprintf("%d denials the run's own rules enforced are not learned (deny rules stay).", s.Enforced))
	}
	if s.Skipped > 0 {
		lines = append(lines, fmt.Sprintf("%d denial records said nothing this policy can declare and were left out.", s.Skipped))
	}
	lines = append(lines, files.left...)
	return strings.Join(lines, "\n")
}

// mergeExtends adds the old policy's profiles to extends.
func mergeExtends(m, old *yaml.Node) {
	ext := items(old, "extends")
	if len(ext) == 0 {
		return
	}
	have := map[string]bool{}
	cur := items(m, "extends")
	for _, e := range cur {
		have[e.Value] = true
	}
	for _, e := range ext {
		if p, err := profileMapping(e.Value); err == nil && get(p, "syscalls") != nil {
			continue // its allowlist would undo the learned one
		}
		if !have[e.Value] {
			have[e.Value] = true
			cur = append(cur, clone(e))
		}
	}
	if len(cur) > 0 {
		set(m, "extends", flowSeq(cur...))
	}
}
