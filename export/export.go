// Package export writes a compiled Plan for other engines: Kubernetes manifests, OCI
// runtime bundles and systemd units. It is pure over the Plan (it reads no YAML and
// touches no file; cmd/confine writes what it returns), and deterministic: the same Plan
// and options give the same bytes. What a target cannot express is a Finding, written
// into the output as comments or annotations and returned, never dropped.
package export

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Formats are the targets Export knows.
var Formats = []string{"k8s", "oci", "systemd"}

// Options are what the Plan does not hold.
type Options struct {
	// BaseDir makes the Plan's relative paths (rootfs, write paths under it) absolute: the
	// directory the policy was compiled from. Empty leaves them as they are.
	BaseDir string
	// HostID is the first host uid and gid an OCI bundle maps container id 0 onto
	// (65,536 ids from there, as confine's own runs do as root).
	HostID uint32
	// FillImages says the caller fills an OCI bundle's rootfs with its component's image
	// layers (File.Image): the rootfs is then not reported empty.
	FillImages bool
}

// DefaultHostID is the host id range an OCI bundle maps when Options.HostID is 0: the
// range subuid(5) tools hand out first.
const DefaultHostID = 100000

// File is one file of an export, Path relative to the output directory (slash-separated).
type File struct {
	Path string
	Data []byte
	// Dir marks an empty directory to make (an OCI bundle's rootfs without a policy rootfs).
	Dir bool
	// Chown gives the file to host ids UID:GID: an empty rootfs belongs to the bundle's
	// container root, which must create the mount points in it.
	Chown    bool
	UID, GID uint32
	// Image, on a Dir, is the image whose layers the caller flattens into it
	// (cmd/confine/export_rootfs.go): Export itself touches no store.
	Image *plan.Image
}

// Finding is something of the Plan the target cannot express, or expresses only in part.
type Finding struct {
	Target    string `json:"target"`
	Component string `json:"component,omitempty"`
	// Mechanism is one of landlock, pids, rlimits, flows, dns, audit, seccomp_args,
	// seccomp_errno, seccomp_log, image, publish, volumes, ids, capabilities, health, names,
	// restart, ports, filesystem.
	Mechanism string `json:"mechanism"`
	Message   string `json:"message"`
}

func (f Finding) String() string {
	if f.Component != "" {
		return fmt.Sprintf("%s: %s: %s: %s", f.Target, f.Component, f.Mechanism, f.Message)
	}
	return fmt.Sprintf("%s: %s: %s", f.Target, f.Mechanism, f.Message)
}

// Result is an export: the files to write and the findings.
type Result struct {
	Format   string    `json:"format"`
	Files    []File    `json:"-"`
	Findings []Finding `json:"findings"`
}

// Export writes p in format (k8s, oci or systemd).
func Export(p *plan.Plan, format string, opt Options) (*Result, error) {
	if opt.HostID == 0 {
		opt.HostID = DefaultHostID
	}
	for _, c := range p.Components {
		if c.Mode == plan.ModeAudit {
			// Its filter notifies a supervisor no other runtime has, and it enforces nothing.
			return nil, fmt.Errorf("export: %s is in mode: audit, which only confine runs (nothing is enforced, and its seccomp filter needs confine's supervisor); export the policy with mode: enforce", c.Name)
		}
	}
	var r *Result
	var err error
	switch format {
	case "k8s":
		r, err = exportK8s(p, opt)
	case "oci":
		r, err = exportOCI(p, opt)
	case "systemd":
		r, err = exportSystemd(p, opt)
	default:
		return nil, fmt.Errorf("export: --format: expected one of %s, found %q", strings.Join(Formats, ", "), format)
	}
	if err != nil {
		return nil, err
	}
	r.Format = format
	sort.SliceStable(r.Files, func(i, j int) bool { return r.Files[i].Path < r.Files[j].Path })
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return r, nil
}

// unitName is the name of a component's Deployment, unit or bundle: STACK-COMPONENT, or
// the component's own name when the Plan is one component.
func unitName(p *plan.Plan, c *plan.Component) string {
	if p.Single {
		return c.Name
	}
	return p.Name + "-" + c.Name
}

// abs makes a Plan path absolute against opt.BaseDir.
func (o Options) abs(p string) string {
	if p == "" || path.IsAbs(p) || o.BaseDir == "" {
		return p
	}
	return path.Join(o.BaseDir, p)
}

// findings collects one target's findings in order.
type findings struct {
	target string
	list   []Finding
}

func (f *findings) add(c *plan.Component, mechanism, format string, args ...any) {
	name := ""
	if c != nil {
		name = c.Name
	}
	f.list = append(f.list, Finding{Target: f.target, Component: name, Mechanism: mechanism, Message: fmt.Sprintf(format, args...)})
}

// of lists the findings of component c (all when c is nil).
func (f *findings) of(c *plan.Component) []Finding {
	var out []Finding
	for _, x := range f.list {
		if c == nil || x.Component == c.Name {
			out = append(out, x)
		}
	}
	return out
}

// common adds the findings every target shares: Landlock and the audit log.
func (f *findings) common(c *plan.Component) {
	if len(c.Landlock.HandledFS) > 0 || len(c.Landlock.HandledNet) > 0 {
		f.add(c, "landlock", "Landlock is not applied: %d path rules and the TCP bind/connect ports %s are enforced only by the mounts, the syscall filter and the network rules below", len(c.Landlock.Paths), landlockPorts(c))
	}
	f.add(c, "audit", "no confine audit log: denials reach only the kernel's own logs, unattributed to a declaration")
	if len(c.Net.Unresolved) > 0 {
		f.add(c, "flows", "declarations naming components resolve only in a stack, and are not exported: %s", strings.Join(c.Net.Unresolved, "; "))
	}
}

func landlockPorts(c *plan.Component) string {
	var s []string
	for _, p := range c.Landlock.BindTCP {
		s = append(s, fmt.Sprintf("bind %d", p))
	}
	for _, p := range c.Landlock.ConnectTCP {
		s = append(s, fmt.Sprintf("connect %d", p))
	}
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

// comment writes findings as '#' comment lines, for YAML and unit files.
func comment(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("# finding: " + f.Mechanism + ": " + strings.ReplaceAll(f.Message, "\n", " ") + "\n")
	}
	return b.String()
}
