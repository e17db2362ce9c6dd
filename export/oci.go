package export

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confine-sandbox/confine/policy/plan"
)

// OCIVersion is the runtime-spec version the bundles claim: the one Debian's runc (1.1)
// implements; every field written here exists in it.
const OCIVersion = "1.0.2"

var namespaces = map[string]specs.LinuxNamespaceType{
	"cgroup": specs.CgroupNamespace, "ipc": specs.IPCNamespace, "mount": specs.MountNamespace,
	"net": specs.NetworkNamespace, "pid": specs.PIDNamespace, "user": specs.UserNamespace,
	"uts": specs.UTSNamespace,
}

// exportOCI writes one bundle per component: NAME/config.json, and NAME/rootfs as an
// empty directory when the Plan has no rootfs (its root is then only the mounts). A
// policy rootfs is not copied: root.path names it, absolute and read-only, as confine's
// own bind of it does.
func exportOCI(p *plan.Plan, opt Options) (*Result, error) {
	f := &findings{target: "oci"}
	var files []File
	for i := range p.Components {
		c := &p.Components[i]
		name := unitName(p, c)
		spec, err := ociSpec(p, c, opt, f)
		if err != nil {
			return nil, err
		}
		spec.Annotations = map[string]string{"dev.confine.source": c.Source, "dev.confine.source-sha256": c.SourceHash}
		for i, x := range f.of(c) {
			spec.Annotations[fmt.Sprintf("dev.confine.finding.%02d.%s", i, x.Mechanism)] = x.Message
		}
		data, err := json.MarshalIndent(spec, "", "  ")
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: name + "/config.json", Data: append(data, '\n')})
		if spec.Root.Path == "rootfs" {
			files = append(files, File{Path: name + "/rootfs", Dir: true, Chown: true, UID: opt.HostID, GID: opt.HostID, Image: c.Image})
		}
		files = append(files, volumeDirs(c, name, opt)...)
	}
	return &Result{Files: files, Findings: f.list}, nil
}

func ociSpec(p *plan.Plan, c *plan.Component, opt Options, f *findings) (*specs.Spec, error) {
	f.common(c)
	seccomp, err := ociSeccomp(&c.Seccomp)
	if err != nil {
		return nil, err
	}
	root := &specs.Root{Path: "rootfs", Readonly: true}
	if im := c.Image; im != nil && !opt.FillImages {
		f.add(c, "image", "the bundle's rootfs is empty: unpack %s (%s, layers %s bottom first) into it; confine's store is not copied", im.Ref, im.Digest, strings.Join(im.DiffIDs, " "))
	}
	if c.Process.Rootfs != "" {
		root.Path = opt.abs(c.Process.Rootfs)
	}
	proc, err := ociProcess(c, f)
	if err != nil {
		return nil, err
	}
	lin := &specs.Linux{
		Resources:     ociResources(c),
		Seccomp:       seccomp,
		MaskedPaths:   append([]string{}, c.MaskedPaths...),
		ReadonlyPaths: append([]string{}, c.ReadonlyPaths...),
	}
	for _, n := range c.Namespaces {
		t, ok := namespaces[n]
		if !ok {
			return nil, fmt.Errorf("export: unknown namespace %q", n)
		}
		lin.Namespaces = append(lin.Namespaces, specs.LinuxNamespace{Type: t})
	}
	for _, m := range c.UIDMap {
		lin.UIDMappings = append(lin.UIDMappings, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: opt.HostID + m.ContainerID, Size: m.Size})
	}
	for _, m := range c.GIDMap {
		lin.GIDMappings = append(lin.GIDMappings, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: opt.HostID + m.ContainerID, Size: m.Size})
	}
	if len(c.Sysctls) > 0 {
		lin.Sysctl = map[string]string{}
		for _, s := range c.Sysctls {
			lin.Sysctl[s.Key] = s.Value
		}
	}
	if flows := c.Net.Firewall.Flows; len(flows) > 0 {
		var s []string
		for _, fl := range flows {
			s = append(s, fmt.Sprintf("%s %s→%s %s", fl.Set, fl.Src, fl.Dst, plan.PortString(fl.Proto, fl.First, fl.Last)))
		}
		f.add(c, "flows", "the bundle's network namespace has loopback only: the flows %s need an interface set up by a hook or CNI plugin, with the ruleset `confine compile --format nft --component %s` prints", strings.Join(s, ", "), c.Name)
	}
	return &specs.Spec{
		Version:  OCIVersion,
		Process:  proc,
		Root:     root,
		Hostname: c.Process.Hostname,
		Mounts:   ociMounts(c, opt, f),
		Linux:    lin,
	}, nil
}

func ociProcess(c *plan.Component, f *findings) (*specs.Process, error) {
	cwd := c.Process.Cwd
	if cwd == "" {
		cwd = "/"
	}
	pr := &specs.Process{
		User:            specs.User{UID: c.Process.UID, GID: c.Process.GID},
		Args:            append([]string{}, c.Process.Args...),
		Env:             append([]string{}, c.Process.Env...),
		Cwd:             cwd,
		NoNewPrivileges: c.Process.NoNewPrivs,
		Capabilities: &specs.LinuxCapabilities{
			Bounding: capNames(c.Capabilities.Bounding), Effective: capNames(c.Capabilities.Effective),
			Inheritable: capNames(c.Capabilities.Inheritable), Permitted: capNames(c.Capabilities.Permitted),
			Ambient: capNames(c.Capabilities.Ambient),
		},
	}
	if c.Process.User != "" || c.Process.Group != "" {
		// Exported as 0, the bundle would run as root: refuse rather than guess.
		return nil, fmt.Errorf("%s: run.user names %s; an OCI bundle takes numbers only: give run.user as UID:GID to export it", c.Name, c.Process.Identity())
	}
	for _, g := range c.Process.Groups {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			f.add(c, "ids", "supplementary group %q is a name, resolved in the sandbox's /etc/group; an OCI bundle takes numbers only", g)
			continue
		}
		pr.User.AdditionalGids = append(pr.User.AdditionalGids, uint32(n))
	}
	for _, r := range c.Rlimits {
		pr.Rlimits = append(pr.Rlimits, specs.POSIXRlimit{Type: r.Type, Soft: r.Soft, Hard: r.Hard})
	}
	return pr, nil
}

// capNames adds the CAP_ prefix; never nil, so an empty set is written as [].
func capNames(caps []string) []string {
	out := []string{}
	for _, c := range caps {
		out = append(out, "CAP_"+c)
	}
	return out
}

// ociMounts is the Plan's mount table without its root (root.path is the root).
func ociMounts(c *plan.Component, opt Options, f *findings) []specs.Mount {
	var out []specs.Mount
	for _, m := range c.Mounts {
		if m.Target == "/" {
			continue
		}
		if m.Type == "bind" && strings.HasPrefix(m.Source, "/dev/") && m.Source == m.Target {
			continue // the runtime supplies the default devices itself (runtime-spec config-linux.md)
		}
		om := specs.Mount{Destination: m.Target, Type: m.Type, Source: m.Source, Options: append([]string{}, m.Options...)}
		switch m.Type {
		case "bind":
			om.Source = opt.abs(m.Source)
			om.Options = append([]string{"rbind"}, om.Options...)
			if m.Idmap {
				f.add(c, "ids", "%s (%s) is idmapped under confine; in the bundle its files show through the user namespace's mapping as they are: give them to host ids from %d", m.Target, m.Why, opt.HostID)
			}
		case "tmpfs":
			if om.Source == "" {
				om.Source = "tmpfs"
			}
		case "volume":
			// A relative bind source is the bundle's (runtime-spec config.md, mounts).
			om.Type, om.Source = "bind", volumeDir(m.Volume)
			om.Options = append([]string{"rbind"}, om.Options...)
			f.add(c, "volumes", "volume %s at %s is the bundle's own directory %s, created empty: the data of confine's volume %s is not copied, nor shared with other bundles", m.Volume, m.Target, om.Source, m.Volume)
		case "upper":
			// The image's own directory, writable: what the run writes stays in the bundle.
			om.Type, om.Source = "bind", path.Join("rootfs", m.Target)
			om.Options = append([]string{"rbind"}, om.Options...)
			f.add(c, "filesystem", "%s is writable in the bundle's rootfs itself (%s): writes persist in the bundle, where confine's run upper is discarded", m.Target, om.Source)
		}
		out = append(out, om)
	}
	return out
}

func volumeDir(name string) string { return "volumes/" + name }

// volumeDirs are the bundle's directories for c's volume mounts and its write paths in
// an image's rootfs (bind sources must exist), owned by the process's ids as the store's
// volume and the run's upper would be.
func volumeDirs(c *plan.Component, name string, opt Options) []File {
	var out []File
	for _, m := range c.Mounts {
		p := ""
		switch m.Type {
		case "volume":
			p = name + "/" + volumeDir(m.Volume)
		case "upper":
			p = path.Join(name, "rootfs", m.Target)
		default:
			continue
		}
		out = append(out, File{Path: p, Dir: true, Chown: true, UID: opt.HostID + c.Process.UID, GID: opt.HostID + c.Process.GID})
	}
	return out
}

func ociResources(c *plan.Component) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if m := c.Cgroup.MemoryMax; m > 0 {
		r.Memory = &specs.LinuxMemory{Limit: &m, Swap: &m} // memory+swap: no swap beyond the limit
	}
	if c.Cgroup.PidsMax > 0 {
		n := c.Cgroup.PidsMax
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	if c.Cgroup.CPUQuota > 0 {
		q, per := c.Cgroup.CPUQuota, uint64(c.Cgroup.CPUPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &q, Period: &per}
	}
	return r
}
