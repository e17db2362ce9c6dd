package supervisor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// The layers only audit mode records: Landlock is off, so file accesses are observed
// (observe.Accesses), and capability use is inferred (observe.CapabilityUsed).
const (
	LayerFilesystem = "filesystem"
	LayerCapability = "capability"
)

// ObservedDenials are the would-be denials of one call an audit-mode component made
// (sandbox.Options.Observe): each file access its Landlock rules would have refused,
// a TCP port they do not list, a capability its policy does not grant, or a syscall an
// argument rule denies. Every one carries enforced false; a call the policy allows
// gives none.
func ObservedDenials(a *audit.Attributor, c *plan.Component, call observe.Call) []map[string]any {
	var out []map[string]any
	add := func(d map[string]any) {
		d[audit.DetailEnforced], d["syscall"], d["pid"] = false, call.Syscall, call.Pid
		a.Classify(d)
		out = append(out, d)
	}
	if c.Audit != nil && !slices.Contains(c.Audit.Observe, call.Syscall) {
		// Not watched for its arguments: an argument deny rule sent it (auditSeccomp).
		d := a.Seccomp(c.Name, call.Syscall, "errno")
		d["args"] = call.Args
		d[audit.DetailReason] = fmt.Sprintf("%v; audit mode let it through", d[audit.DetailReason])
		add(d)
		return out
	}
	for _, acc := range observe.Accesses(call, sandbox.OpenFlags(call)) {
		if missing := observe.MissingRights(c.Landlock, acc); len(missing) > 0 {
			add(fileDenial(c, acc, missing))
		}
	}
	if (call.Syscall == "bind" || call.Syscall == "connect") && observe.PortDenied(c.Landlock, call) {
		d := portDenial(c, call)
		if peer := a.Peer(c.Name, call.Sock.Addr); peer != "" && call.Syscall == "connect" {
			d["peer"] = peer
		}
		add(d)
	}
	if use := observe.CapabilityUsed(call, observe.UnprivilegedPortStart(c)); use != nil && !observe.CapDeclared(c.Capabilities, use.Capability) {
		name := strings.TrimPrefix(use.Capability, "CAP_")
		add(map[string]any{audit.DetailLayer: LayerCapability, audit.DetailWhat: use.Capability + " (" + use.InferredFrom + ")",
			audit.DetailDecidedBy: "default", "capability": use.Capability, "inferred_from": use.InferredFrom,
			audit.DetailReason: fmt.Sprintf("%s needed %s for %s, which capabilities does not name (%s)", c.Name, use.Capability, use.InferredFrom, name)})
	}
	return out
}

func fileDenial(c *plan.Component, acc observe.Access, missing []string) map[string]any {
	target := acc.Path
	if acc.Target != "" {
		target = acc.Target
	}
	reason := fmt.Sprintf("%s needs %s on %s, which no filesystem declaration grants", c.Name, strings.Join(missing, ", "), acc.Path)
	return map[string]any{audit.DetailLayer: LayerFilesystem, audit.DetailWhat: acc.Access + " " + target,
		audit.DetailDecidedBy: "default", audit.DetailReason: reason, "path": target, "access": acc.Access,
		"rights": missing, "mechanism": "landlock"}
}

func portDenial(c *plan.Component, call observe.Call) map[string]any {
	s := call.Sock
	what := fmt.Sprintf("%s %s:%d/tcp", call.Syscall, s.Addr, s.Port)
	reason := fmt.Sprintf("%s connects to port %d/tcp, which no network.connect or network.listen names", c.Name, s.Port)
	if call.Syscall == "bind" {
		reason = fmt.Sprintf("%s binds %d/tcp, which network.listen does not name", c.Name, s.Port)
	}
	return map[string]any{audit.DetailLayer: audit.LayerNetwork, audit.DetailWhat: what, audit.DetailDecidedBy: "default",
		audit.DetailReason: reason, "direction": call.Syscall, "proto": "tcp", "dst": s.Addr, "dport": int(s.Port),
		"mechanism": "landlock"}
}
