package learn

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/profiles"
)

// LearnedProfile is the profile a learned policy's syscalls extend: the default
// profile's refusals, no allows (profiles/learned.yaml).
const LearnedProfile = "learned"

// RunSpec says what a learning run runs.
type RunSpec struct {
	// Base is the policy to start from (--policy), nil for none; BaseName names it in
	// messages, BaseDir is its directory, against which relative sources resolve.
	Base              []byte
	BaseName, BaseDir string
	// Command replaces run.command when set; Image sets run.image.
	Command []string
	Image   string
}

// RunPolicy returns the policy a learning run uses: the base (or, without one, a
// component named after the command, extending host-runtime unless it runs an image),
// with mode: audit; each profile of extends that has a syscalls section replaced by the
// rest of what it grants (its paths, limits and refusals), so that its allowlist does not
// hide what the program calls; relative sources made absolute; and syscalls that allow
// only the learned profile's few and the syscalls audit mode observes (policy.ObservedSyscalls: allowed, they
// are notified and their paths, ports and ids recorded) over the learned profile, keeping
// the base's and the inlined profiles' deny rules. Everything else the program does is
// then a would-be denial.
func RunPolicy(spec RunSpec) ([]byte, error) {
	m, err := baseMapping(spec)
	if err != nil {
		return nil, err
	}
	run := child(m, "run")
	if len(spec.Command) > 0 {
		cmd := flowSeq()
		for _, a := range spec.Command {
			cmd.Content = append(cmd.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: a, Style: yaml.DoubleQuotedStyle})
		}
		set(run, "command", cmd)
	}
	if spec.Image != "" {
		set(run, "image", scalar(spec.Image))
		del(run, "rootfs")
	}
	absolute(m, spec.BaseDir)
	denies, err := inlineProfiles(m)
	if err != nil {
		return nil, err
	}
	sc := get(m, "syscalls")
	if sc != nil && sc.Kind == yaml.MappingNode {
		if ext := get(sc, "extends"); ext != nil && ext.Value != "" && ext.Value != LearnedProfile {
			d, err := profileDenies(ext.Value)
			if err != nil {
				return nil, err
			}
			denies = append(d, denies...)
		}
		denies = append(denies, items(sc, "deny")...)
	}
	learned, err := profileDenies(LearnedProfile)
	if err != nil {
		return nil, err
	}
	out := mapping(scalar("extends"), scalar(LearnedProfile))
	if sc != nil {
		if ov := get(sc, "on_violation"); ov != nil && ov.Value != "log" {
			set(out, "on_violation", clone(ov))
		}
	}
	allow := flowSeq()
	for _, n := range policy.ObservedSyscalls() {
		allow.Content = append(allow.Content, scalar(n))
	}
	set(out, "allow", allow)
	var kept []*yaml.Node
	seen := map[string]bool{}
	for _, d := range learned {
		seen[canon(d)] = true
	}
	for _, d := range denies {
		if k := canon(d); !seen[k] {
			seen[k] = true
			kept = append(kept, clone(d))
		}
	}
	setOrDrop(out, "deny", kept)
	set(m, "syscalls", out)
	set(m, "mode", scalar("audit"))
	return encode(m)
}

func baseMapping(spec RunSpec) (*yaml.Node, error) {
	if spec.Base != nil {
		return parseMapping(spec.Base, spec.BaseName)
	}
	if len(spec.Command) == 0 {
		return nil, fmt.Errorf("a command to learn, or a base policy with run.command")
	}
	m := mapping(scalar("version"), intScalar(1), scalar("name"), scalar(nameFor(spec.Command[0])))
	if spec.Image == "" {
		set(m, "extends", flowSeq(scalar("host-runtime")))
	}
	return m, nil
}

// nameFor makes a component name of a command's base name: lowercase letters, digits
// and inner hyphens, at most 32.
func nameFor(cmd string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(filepath.Base(cmd)) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 32 {
		name = strings.TrimRight(name[:32], "-")
	}
	if name == "" {
		return "learned"
	}
	return name
}

// absolute makes the base's relative bind sources and env_file absolute against dir,
// so that the run's policy and the learned one may live elsewhere.
func absolute(m *yaml.Node, dir string) {
	if dir == "" {
		return
	}
	fix := func(n *yaml.Node) {
		if n != nil && n.Kind == yaml.ScalarNode && n.Value != "" && !filepath.IsAbs(n.Value) {
			n.Value = filepath.Join(dir, n.Value)
		}
	}
	fix(get(get(m, "run"), "env_file"))
	for _, b := range items(get(m, "filesystem"), "bind") {
		fix(get(b, "source"))
	}
}

// inlineProfiles replaces each profile of m's extends that has a syscalls section with
// what else it grants (merged under m's own keys), and returns its deny rules.
func inlineProfiles(m *yaml.Node) ([]*yaml.Node, error) {
	ext := get(m, "extends")
	if ext == nil || ext.Kind != yaml.SequenceNode {
		return nil, nil
	}
	var keep, denies []*yaml.Node
	queue := slices.Clone(ext.Content)
	done := map[string]bool{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if done[n.Value] {
			continue
		}
		done[n.Value] = true
		p, err := profileMapping(n.Value)
		if err != nil || get(p, "syscalls") == nil {
			keep = append(keep, n) // not a built-in profile (check says so), or no syscalls
			continue
		}
		for _, d := range items(get(p, "syscalls"), "deny") {
			denies = append(denies, d)
		}
		queue = append(queue, items(p, "extends")...)
		for i := 0; i+1 < len(p.Content); i += 2 {
			switch k := p.Content[i].Value; k {
			case "version", "syscalls", "extends", "name":
			default:
				mergeUnder(m, k, p.Content[i+1])
			}
		}
	}
	if len(keep) == 0 {
		del(m, "extends")
	} else {
		ext.Content = keep
	}
	return denies, nil
}

// mergeUnder lays a profile's value under m's own key: mappings merge per key, lists
// gain the entries they lack, and m's scalars win.
func mergeUnder(m *yaml.Node, key string, v *yaml.Node) {
	own := get(m, key)
	switch {
	case own == nil:
		c := clone(v)
		c.HeadComment, c.LineComment, c.FootComment = "", "", ""
		set(m, key, c)
	case own.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			mergeUnder(own, v.Content[i].Value, v.Content[i+1])
		}
	case own.Kind == yaml.SequenceNode && v.Kind == yaml.SequenceNode:
		have := map[string]bool{}
		for _, e := range own.Content {
			have[canon(e)] = true
		}
		for _, e := range v.Content {
			if !have[canon(e)] {
				own.Content = append(own.Content, clone(e))
			}
		}
	}
}

func profileMapping(name string) (*yaml.Node, error) {
	if strings.ContainsAny(name, "/\\.") || name == "" {
		return nil, fmt.Errorf("not a profile name: %q", name)
	}
	data, err := profiles.FS.ReadFile(name + ".yaml")
	if err != nil {
		return nil, err
	}
	return parseMapping(data, "profiles/"+name+".yaml")
}

// profileDenies returns a built-in profile's syscalls.deny entries, following its
// syscalls.extends.
func profileDenies(name string) ([]*yaml.Node, error) {
	var out []*yaml.Node
	for seen := map[string]bool{}; name != "" && !seen[name]; {
		seen[name] = true
		p, err := profileMapping(name)
		if err != nil {
			return nil, fmt.Errorf("syscalls.extends: %w", err)
		}
		sc := get(p, "syscalls")
		out = append(items(sc, "deny"), out...)
		name = ""
		if e := get(sc, "extends"); e != nil {
			name = e.Value
		}
	}
	return out, nil
}

func encode(m *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}); err != nil {
		return nil, err
	}
	enc.Close()
	return buf.Bytes(), nil
}
