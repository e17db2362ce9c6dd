package sandbox

import (
	"fmt"

	"github.com/confine-sandbox/confine/policy/plan"
)

// InitArg is the hidden first argument that turns the confine binary into the init stage
// (runc's dispatch): cmd/confine checks for it before anything else.
const InitArg = "__confine_init"

// The init stage's inherited descriptors, in exec.Cmd.ExtraFiles order.
const (
	fdConfig = 3 // initConfig as JSON, then EOF
	fdError  = 4 // close-on-exec: one StepError as JSON, or EOF when exec succeeded
	fdGo     = 5 // SOCK_SEQPACKET: one byte once the network and cgroup are in place (with the C stage's v1 tasks descriptors)
	fdMounts = 6 // SOCK_SEQPACKET: the parent's detached idmapped mounts, then EOF
	// fdIDs = 7 (user_linux.go): run.user's names resolved, then EOF at exec
	fdNotify = 8 // SOCK_SEQPACKET: audit mode's seccomp listener, sent to the parent
)

// initConfig is what the parent sends the init stage: the component's Plan and the
// runtime values bound at apply time.
type initConfig struct {
	Component plan.Component `json:"component"`
	// Root is an empty directory the init stage builds the new root on; it exists only
	// in the sandbox's mount namespace once mounted over.
	Root string `json:"root"`
	// Rootless is true when confine runs without root: setgroups(2) is then denied.
	Rootless bool `json:"rootless"`
	// SubIDs is true when, without root, newuidmap and newgidmap wrote the maps: the
	// init stage then sets its parent-death signal again (rootless_linux.go).
	SubIDs bool `json:"sub_ids,omitempty"`
	// FallbackRlimits stand in for skipped cgroup limits (rlimit_fallback.go); the
	// init stage sets them last, since they would bound its own Go runtime too.
	FallbackRlimits []plan.Rlimit `json:"fallback_rlimits,omitempty"`
	// SkipFirewall: the kernel lacks nftables and the policy lists it under best_effort,
	// or the supervisor (as root) loads the firewall itself.
	SkipFirewall bool `json:"skip_firewall"`
	// SharedNet: the sandbox runs in another's network namespace (Options.JoinNetNS),
	// whose loopback and sysctls are already set and not this user namespace's to set.
	SharedNet bool `json:"shared_net,omitempty"`
	// Hosts is the content of the component's /etc/hosts, or "" to leave /etc/hosts as
	// the mounts make it.
	Hosts string `json:"hosts,omitempty"`
	// Resolv is the content of the component's /etc/resolv.conf, or "" to leave it.
	Resolv string `json:"resolv,omitempty"`
	// TraceOrigin, when not 0, turns on the init stage's step timing (internal/trace)
	// with the supervisor's clock origin; TraceStarted is when the supervisor began
	// starting the init stage.
	TraceOrigin  int64 `json:"trace_origin,omitempty"`
	TraceStarted int64 `json:"trace_started,omitempty"`

	// groups are run.groups resolved by resolveGroups, for setIdentityAndCaps.
	groups []int
	// chownLater are the write paths mountUpper made for a named run.user, which
	// resolveUser gives to the user once it knows its ids.
	chownLater []string
	// chownHeld, in the Go init, holds each of them (O_PATH: the bind mountUpper made
	// there; -1: not held), so that what their paths name by then is not given.
	chownHeld []int
	// selfCgroup, on a v1 host, is the C stage's own move into its cgroup
	// (cgroup_self_linux.go); nil when the supervisor moves the init stage.
	selfCgroup *selfAttach
}

// StepError says which init step failed, and why.
type StepError struct {
	Step string `json:"step"`
	Err  string `json:"error"`
}

func (e *StepError) Error() string {
	return fmt.Sprintf("enforcement failed at %s: %s", e.Step, e.Err)
}
