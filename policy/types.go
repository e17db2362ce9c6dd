// Package policy loads, validates, merges and compiles confine policies. It is the pure
// first half of the pipeline: YAML in, a plan.Plan out, with no side effects on the host.
package policy

import (
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Component is one component's policy file, as written (before profiles are merged).
// Field names map to snake_case YAML keys; docs/policy.md documents each one.
type Component struct {
	Version      int        `yaml:"version"`
	Name         string     `yaml:"name"`
	Extends      []string   `yaml:"extends"`
	Run          Run        `yaml:"run"`
	Filesystem   Filesystem `yaml:"filesystem"`
	Network      Network    `yaml:"network"`
	Syscalls     Syscalls   `yaml:"syscalls"`
	Capabilities []string   `yaml:"capabilities"`
	Resources    Resources  `yaml:"resources"`
	BestEffort   []string   `yaml:"best_effort"`
	// Mode is enforce (the default) or audit: every layer observes and logs what it
	// would deny instead of denying it (compile_audit.go, docs/audit.md).
	Mode string `yaml:"mode"`

	// File is the name the component was loaded under; Dir its directory.
	File string `yaml:"-"`
	// Source is the SHA-256 of the file's bytes, hex; it identifies the policy in audit events.
	Source string `yaml:"-"`
	// pos maps field paths ("network.listen[0].port") to where their values stand.
	pos positions
	// origins maps a path or syscall declaration to the rule that made it, across merged
	// profiles ("filesystem.write /var/lib/api" → "api.yaml:12:10 filesystem.write[0]"),
	// so the Plan can say which rule decides what. Set by recordOrigins.
	origins map[string]string
	// rules is seccompRuleSet of Syscalls and rulesKey its syscallsKey, worked out once
	// by validate (an effective policy's) for compile.
	rules    []plan.SeccompRule
	rulesKey string
}

// Run says what to execute and as whom.
type Run struct {
	Command []string `yaml:"command"`
	Rootfs  string   `yaml:"rootfs"`
	// Image is an image reference (NAME[:TAG][@sha256:…], oci:PATH[:TAG],
	// docker-archive:PATH), instead of Rootfs; compile_image.go.
	Image    string            `yaml:"image"`
	User     string            `yaml:"user"`
	Env      map[string]string `yaml:"env"`
	Workdir  string            `yaml:"workdir"`
	Hostname string            `yaml:"hostname"`
	// Groups are supplementary groups by name or number; names resolve against the
	// sandbox's own /etc/group when the component starts.
	Groups []string `yaml:"groups"`
	// EnvFromHost names variables copied from the supervisor's environment when the
	// component starts; EnvFile is a KEY=VALUE file read then, relative to the policy
	// file. run.env wins over both, env_file over env_from_host (compile_env.go).
	EnvFromHost []string `yaml:"env_from_host"`
	EnvFile     string   `yaml:"env_file"`
	// Exec: false refuses `confine exec` into the running component; default allowed.
	Exec       *bool  `yaml:"exec"`
	envFileAbs string // EnvFile resolved against the policy file's directory
	// Restart, DependsOn and Health are read by the supervisor (`confine up`) only.
	Restart   string   `yaml:"restart"`    // no (default), on-failure, always
	DependsOn []string `yaml:"depends_on"` // components that must be running first
	Health    Health   `yaml:"health"`

	user parsed[User] // User, parsed at load (values.go)
}

// Health is a TCP or an exec health check (supervisor/health.go, health_exec.go).
type Health struct {
	TCP int `yaml:"tcp"`
	// Exec is a command run inside the running component, as confine exec runs one;
	// exit status 0 is healthy.
	Exec     []string `yaml:"exec"`
	Interval string   `yaml:"interval"` // Go duration; default 2s
	Timeout  string   `yaml:"timeout"`  // default 1s
	Retries  int      `yaml:"retries"`  // failures in a row before unhealthy; default 3

	interval, timeout parsed[time.Duration] // Interval and Timeout (when set), parsed at load (values.go)
}

// Filesystem lists the paths the component may see. Everything else is absent.
type Filesystem struct {
	Read  []string `yaml:"read"`
	Write []string `yaml:"write"`
	Tmpfs []string `yaml:"tmpfs"`
	// Share declares a host path shared with other components (channels.go).
	Share []Share `yaml:"share"`
	// Idmap records the read and write entries written as {path, idmap}: path → idmap.
	// Write paths are idmapped unless false here, read paths only when true.
	Idmap map[string]bool `yaml:"-"`
	// Volumes records the write entries written as {path, volume}: path → volume name.
	Volumes map[string]string `yaml:"-"`
	// Bind places a host file or directory at a target path (compile_binds.go).
	Bind []Bind `yaml:"bind"`
}

// Bind is one filesystem.bind entry: Source (absolute, or relative to the policy file)
// mounted at Target, read-only unless Write. Idmap, when set, overrides the default
// (idmapped when Write, as write paths are).
type Bind struct {
	Source string  `yaml:"source"`
	Target string  `yaml:"target"`
	Write  bool    `yaml:"write"`
	Idmap  OptBool `yaml:"idmap"`
	abs    string  // Source resolved against the policy file's directory (resolveSources)
}

// Network lists the ports the component serves and the peers it calls.
type Network struct {
	Listen  []Listen  `yaml:"listen"`
	Connect []Connect `yaml:"connect"`
	// Unix lists the unix sockets served to other components (channels.go).
	Unix []UnixSocket `yaml:"unix"`
}

// Listen is a served port ("8080/tcp", "5000-5010/udp") and who may call it.
type Listen struct {
	Port string   `yaml:"port"`
	From []string `yaml:"from"`

	// Port and From parsed at load (values.go): validate reports their errors, and
	// compile reads only these.
	ports parsed[PortRange]
	from  []parsed[Peer]
}

// Connect is one outgoing flow: "component:port/proto", "address:port/proto" or "cidr:port/proto".
type Connect struct {
	To string `yaml:"to"`
	// Unix is "component:/path/to.sock", a unix socket another component serves;
	// an entry has either To or Unix (channels.go).
	Unix string `yaml:"unix"`

	to   parsed[Endpoint] // To, parsed at load (values.go)
	unix parsed[UnixTarget]
}

// Syscalls is the seccomp part of the policy.
type Syscalls struct {
	Extends     string        `yaml:"extends"`
	Allow       []SyscallRule `yaml:"allow"`
	Deny        []SyscallRule `yaml:"deny"`
	OnViolation string        `yaml:"on_violation"`
}

// SyscallRule names syscalls or @groups, optionally only when their arguments match.
// In YAML it is either a bare name or a mapping {names, args, errno}.
type SyscallRule struct {
	Names []string  `yaml:"names"`
	Args  []ArgCond `yaml:"args"`
	// Errno, on a deny rule, is returned instead of the on_violation action (e.g. ENOSYS for clone3).
	Errno string `yaml:"errno"`

	key string // ruleKey, set at load (values.go)
}

// ArgCond compares one syscall argument. Value and Mask are integers or named constants
// (AF_INET, CLONE_NEWUSER|CLONE_NEWNS, TIOCSTI).
type ArgCond struct {
	Index int    `yaml:"index"`
	Op    string `yaml:"op"`
	Value string `yaml:"value"`
	Mask  string `yaml:"mask"`

	value, mask parsed[uint64] // Value and Mask (when set), parsed at load (values.go)
}

// Resources are the cgroup and rlimit bounds. Zero means "not limited here".
type Resources struct {
	Memory string  `yaml:"memory"`
	Pids   int64   `yaml:"pids"`
	CPU    float64 `yaml:"cpu"`
	Nofile int64   `yaml:"nofile"`

	memory parsed[int64] // Memory (when set), parsed at load (values.go)
}

// Stack is a set of components and the network between them.
type Stack struct {
	Version    int      `yaml:"version"`
	Name       string   `yaml:"name"`
	Subnet     string   `yaml:"subnet"`
	Components []string `yaml:"components"`
	Publish    []string `yaml:"publish"`

	File string `yaml:"-"`
	pos  positions
	// Members are the loaded components, in the order Components lists them.
	Members []*Component `yaml:"-"`

	publish []parsed[Publish] // Publish, parsed at load (values.go)
}
