// Package plan is the compiled form of a policy: plain, JSON-serialisable data that
// everything after compile (apply, explain, export, audit) reads. It imports nothing of
// confine, so the apply side cannot reach back into the YAML.
package plan

// Version is the Plan format's version, bumped on incompatible changes.
const Version = 1

// Plan is a compiled stack; a single component compiles to a stack of one.
type Plan struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	// Single is true when the Plan came from one component file rather than a stack.
	Single     bool        `json:"single"`
	Components []Component `json:"components"`
	// Network is the stack's network. Built by compileNetwork (policy/compile_network.go).
	Network Network `json:"network"`
	// StartOrder names the components in the order the supervisor starts them: a callee
	// before its callers, depends_on first. Built by compileStartOrder (policy/supervise.go).
	StartOrder []string `json:"start_order"`
}

// Component is everything needed to start one component under enforcement.
type Component struct {
	Name string `json:"name"`
	// Source names the policy file and the SHA-256 of its bytes, for audit events.
	Source     string `json:"source"`
	SourceHash string `json:"source_hash"`

	Process Process `json:"process"`
	// Image is the image the root is made of, or nil (policy/compile_image.go).
	Image *Image `json:"image,omitempty"`
	// Namespaces to unshare, sorted: cgroup ipc mount net pid user uts.
	Namespaces []string `json:"namespaces"`
	// UIDMap and GIDMap are the user namespace's id maps: as root, container ids 0-65535
	// onto a host range of the component's own, chosen at apply time (sandbox/ids_linux.go);
	// without root, the process's id onto the invoking user's and the others onto the
	// user's subordinate ids (sandbox/rootless_linux.go). Other ids show as nobody.
	UIDMap []IDMap `json:"uid_map"`
	GIDMap []IDMap `json:"gid_map"`
	// Sysctls are written inside the component's own namespaces before its mounts.
	// Built by compileSysctls (policy/compile_ids.go), applied by setSysctls
	// (sandbox/sysctl_linux.go).
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Mounts in the order they are made. Built by compileMounts (policy/compile_mounts.go).
	Mounts []Mount `json:"mounts"`
	// MaskedPaths are hidden (bound over with an empty file or tmpfs); ReadonlyPaths are
	// remounted read-only. Both under /proc and /sys.
	MaskedPaths   []string `json:"masked_paths"`
	ReadonlyPaths []string `json:"readonly_paths"`
	Rlimits       []Rlimit `json:"rlimits"`
	// Capabilities. Built by compileCapabilities (policy/compile_caps.go).
	Capabilities Capabilities `json:"capabilities"`
	// Landlock holds the filesystem and TCP rules. Built by compileLandlock
	// (policy/compile_landlock.go).
	Landlock Landlock `json:"landlock"`
	// Seccomp holds the rules and the BPF program. Built by compileSeccomp
	// (policy/compile_seccomp.go), which calls policy/seccomp for the program.
	Seccomp Seccomp `json:"seccomp"`
	// Cgroup limits. Built by compileResources (policy/compile_resources.go).
	Cgroup Cgroup `json:"cgroup"`
	// Net is this component's place in the network.
	Net ComponentNet `json:"net"`
	// Channels are the unix sockets and shared paths it declares with other components.
	Channels []Channel `json:"channels,omitempty"`
	// Requires lists what the kernel must provide; preflight compares it with the host.
	Requires []Requirement `json:"requires"`
	// BestEffort names mechanisms that may be skipped when the kernel lacks them.
	BestEffort []string `json:"best_effort"`
	// Supervise is what `confine up` does with the component over time.
	Supervise Supervise `json:"supervise"`
	// Mode is "audit" for a component that observes instead of denying, "" (enforce)
	// otherwise; Audit says what audit mode runs with. Built by compileAudit
	// (policy/compile_audit.go); applied by the init stage (sandbox/audit_linux.go).
	Mode  string     `json:"mode,omitempty"`
	Audit *AuditMode `json:"audit,omitempty"`
}

// ModeAudit is Component.Mode for a component in audit-only mode.
const ModeAudit = "audit"

// AuditMode is what an audit-mode component runs with instead of its enforcement.
// Capabilities, Landlock, Seccomp.Denies and Net keep the policy's declarations: the
// observations are compared with them (policy/observe). Landlock is not applied.
type AuditMode struct {
	// Capabilities are the sets the component runs with: a permissive container's.
	Capabilities Capabilities `json:"capabilities"`
	// Observe are the syscalls the filter hands to the supervisor (seccomp user
	// notification), which reads their paths, addresses and ids and lets each continue.
	Observe []string `json:"observe"`
}

// Supervise is a component's lifecycle under the supervisor.
type Supervise struct {
	Restart   string   `json:"restart"` // no, on-failure, always
	DependsOn []string `json:"depends_on,omitempty"`
	// Health is a TCP or exec check; nil when none is declared.
	Health *HealthCheck `json:"health,omitempty"`
}

// HealthWhy ends the Why of the ingress flow that admits a TCP health check from the
// bridge address. Built by compileHealthFlows (policy/compile_network.go); the supervisor
// dials through it (supervisor/health_exec.go healthDial).
const HealthWhy = "the supervisor's health check, from the bridge address to this port only"

// HealthCheck connects to Port every IntervalMS; Retries failures in a row mark the
// component unhealthy.
type HealthCheck struct {
	Port uint16 `json:"port,omitempty"`
	// Exec, when set instead of Port, is run inside the running component as confine
	// exec runs a command (supervisor/health_exec.go); exit 0 is healthy.
	Exec       []string `json:"exec,omitempty"`
	IntervalMS int64    `json:"interval_ms"`
	TimeoutMS  int64    `json:"timeout_ms"`
	Retries    int      `json:"retries"`
}

// Process is what the init stage finally executes.
type Process struct {
	Args []string `json:"args"`
	Env  []string `json:"env"` // KEY=value, sorted; nothing else is passed
	Cwd  string   `json:"cwd"`
	UID  uint32   `json:"uid"`
	GID  uint32   `json:"gid"`
	// User and Group are run.user's names, resolved by resolveUser in the sandbox's own
	// /etc/passwd and /etc/group when it starts (sandbox/user_linux.go); UID, and GID
	// with a Group or a named User, are 0 until then. Built by compileComponent.
	User     string `json:"user,omitempty"`
	Group    string `json:"group,omitempty"`
	Hostname string `json:"hostname"`
	// Rootfs is the directory to pivot into, or "" for a tmpfs root holding only the
	// mounts below.
	Rootfs     string `json:"rootfs"`
	NoNewPrivs bool   `json:"no_new_privs"`
	// Groups are the supplementary groups, names or numbers as written; names resolve
	// against the sandbox's own /etc/group when it starts (resolveGroups,
	// sandbox/groups_linux.go), since that file is the image's.
	Groups []string `json:"groups,omitempty"`
	// EnvFromHost names variables copied from the supervisor's environment, and EnvFile
	// (absolute) a KEY=VALUE file, both read when the component starts (composeEnv,
	// sandbox/env_linux.go); Env wins over EnvFile, EnvFile over EnvFromHost.
	EnvFromHost []string `json:"env_from_host,omitempty"`
	EnvFile     string   `json:"env_file,omitempty"`
	// DenyExec is run.exec: false: the supervisor refuses `confine exec` into the
	// component (compile.go; supervisor/exec.go).
	DenyExec bool `json:"deny_exec,omitempty"`
}

// IDMap maps Size ids from ContainerID inside the user namespace to host ids. The host
// side is chosen at apply time (the invoking user when unprivileged, an unused range when
// root): it is a runtime value, like a pid, and stays out of the Plan.
type IDMap struct {
	ContainerID uint32 `json:"container_id"`
	Size        uint32 `json:"size"`
}

// Mount is one mount made inside the sandbox's mount namespace.
type Mount struct {
	Type    string   `json:"type"` // bind, tmpfs, proc, devpts, mqueue; overlay, upper, volume (images)
	Source  string   `json:"source,omitempty"`
	Target  string   `json:"target"`
	Options []string `json:"options,omitempty"` // ro, nosuid, nodev, noexec, mode=…, size=…
	// Idmap marks a bind seen through the component's own id range (as root): a file
	// owned by host uid N shows as uid N inside. Without it, host files show as the
	// overflow ids. Built by compileMounts, applied by idmapMounts (sandbox/idmap_linux.go).
	Idmap bool `json:"idmap,omitempty"`
	// Volume, on a "volume" mount, names the store's volume bound at Target.
	Volume string `json:"volume,omitempty"`
	// Why says which declaration asked for the mount, for explain and audit.
	Why string `json:"why"`
}

// Sysctl is one /proc/sys setting of a namespace the component owns.
type Sysctl struct {
	Key   string `json:"key"` // net.ipv4.ip_unprivileged_port_start
	Value string `json:"value"`
	Why   string `json:"why"`
}

// Rlimit is one setrlimit(2) call.
type Rlimit struct {
	Type string `json:"type"` // RLIMIT_NOFILE, RLIMIT_CORE, …
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Capabilities are names without the CAP_ prefix, sorted.
type Capabilities struct {
	Bounding    []string `json:"bounding"`
	Permitted   []string `json:"permitted"`
	Effective   []string `json:"effective"`
	Inheritable []string `json:"inheritable"`
	Ambient     []string `json:"ambient"`
}

// Landlock is the ruleset for landlock_create_ruleset(2) and its rules.
type Landlock struct {
	// HandledFS and HandledNet are the access rights the ruleset restricts; any right not
	// granted below is denied everywhere.
	HandledFS  []string   `json:"handled_fs"`
	HandledNet []string   `json:"handled_net"`
	Paths      []PathRule `json:"paths"`
	// BindTCP and ConnectTCP are the ports allowed for bind(2) and connect(2).
	BindTCP    []uint16 `json:"bind_tcp"`
	ConnectTCP []uint16 `json:"connect_tcp"`
	// Scoped are the IPC scopes (abstract_unix_socket, signal) closed to the outside.
	Scoped []string `json:"scoped"`
	// Note records a restriction that was left out and why (for explain and reports).
	Notes []string `json:"notes,omitempty"`
}

// PathRule grants access rights beneath a path (as seen inside the sandbox).
type PathRule struct {
	Path   string   `json:"path"`
	Access []string `json:"access"` // execute, read_file, read_dir, write_file, …
	// Why is the declaration that grants it ("api.yaml:12:10 filesystem.write[0]"), or
	// what confine adds on its own.
	Why string `json:"why,omitempty"`
}

// Seccomp is a compiled filter. Program is what the init stage loads; Rules say what it means.
type Seccomp struct {
	Arch string `json:"arch"` // libseccomp's name for the native architecture
	// DefaultAction is what any syscall not allowed below gets: errno, kill_process or log.
	DefaultAction string        `json:"default_action"`
	DefaultErrno  int           `json:"default_errno,omitempty"`
	Rules         []SeccompRule `json:"rules"`
	// Denies are the syscalls an explicit deny rule took away or gave an errno, each with
	// that rule, so a denial can name what decided it.
	Denies []SeccompDeny `json:"denies,omitempty"`
	// Program is the BPF program as struct sock_filter[] in native byte order (base64 in JSON).
	Program []byte `json:"program"`
	// ProgramSHA256 identifies the program in audit events.
	ProgramSHA256 string `json:"program_sha256"`
}

// SeccompRule applies Action to each syscall when all Args match.
type SeccompRule struct {
	Syscalls []string     `json:"syscalls"`
	Action   string       `json:"action"` // allow or errno
	Errno    int          `json:"errno,omitempty"`
	Args     []SeccompArg `json:"args,omitempty"`
}

// SeccompDeny is one syscall an explicit rule denies, under its conditions if Args says so.
type SeccompDeny struct {
	Syscall string `json:"syscall"`
	// Why is the rule's position and text ("api.yaml:22:9 syscalls.deny[0] ptrace").
	Why  string `json:"why"`
	Args bool   `json:"args,omitempty"` // only when its arguments match
}

// SeccompArg compares syscall argument Index with Value (after & Mask for masked_eq).
type SeccompArg struct {
	Index uint   `json:"index"`
	Op    string `json:"op"` // eq ne lt le gt ge masked_eq
	Value uint64 `json:"value"`
	Mask  uint64 `json:"mask,omitempty"`
}

// Cgroup limits; zero means unlimited.
type Cgroup struct {
	MemoryMax int64 `json:"memory_max"` // bytes; swap is limited to the same
	PidsMax   int64 `json:"pids_max"`
	// CPUQuota per CPUPeriod microseconds (cpu: 0.5 → 50000/100000).
	CPUQuota  int64 `json:"cpu_quota"`
	CPUPeriod int64 `json:"cpu_period"`
}

// ComponentNet is one component's addresses and declared flows.
type ComponentNet struct {
	// Address is the component's IPv4 address on the stack bridge ("" for a single component,
	// which has loopback only).
	Address string `json:"address,omitempty"`
	// Hosts are the /etc/hosts entries: the peers this component may reach.
	Hosts  []HostEntry `json:"hosts,omitempty"`
	Listen []Port      `json:"listen"`
	// Firewall is the ruleset loaded inside the component's own network namespace.
	Firewall Firewall `json:"firewall"`
	// Names are the DNS names it may connect to (plan/uplink.go).
	Names []NameFlow `json:"names,omitempty"`
	// Unresolved are declarations naming components, which only a stack resolves: a
	// component compiled on its own has no such peers.
	Unresolved []string `json:"unresolved,omitempty"`
}

// HostEntry is one line of the component's /etc/hosts.
type HostEntry struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Port is a protocol and an inclusive port range.
type Port struct {
	Proto string `json:"proto"`
	First uint16 `json:"first"`
	Last  uint16 `json:"last"`
}

// Network is the stack's shared network: a bridge in a namespace of its own.
type Network struct {
	Subnet        string `json:"subnet,omitempty"`
	BridgeAddress string `json:"bridge_address,omitempty"`
	// Firewall filters traffic crossing the bridge between components.
	Firewall  Firewall  `json:"firewall"`
	Published []Publish `json:"published,omitempty"`
	// Uplink is the stack's way out to the host namespace, or nil (plan/uplink.go).
	Uplink *Uplink `json:"uplink,omitempty"`
}

// Publish forwards a host address and port to a component's port.
type Publish struct {
	HostAddress string `json:"host_address"`
	HostPort    uint16 `json:"host_port"`
	Component   string `json:"component"`
	Address     string `json:"address"`
	Port        uint16 `json:"port"`
	Proto       string `json:"proto"`
	// Kernel is set for a host address other than loopback: DNAT in the host namespace
	// through the uplink, the client's address kept (0.0.0.0 means every local
	// address, and its loopback gets the userspace proxy). Loopback addresses are
	// served by the proxy alone (never route_localnet: CVE-2020-8558).
	Kernel bool `json:"kernel,omitempty"`
}

// Firewall is one nftables table: default-drop chains whose only accepts are set lookups,
// so per-packet cost does not grow with the number of flows. Rendered to nft text by
// netfilter.Render and applied over netlink by netfilter.Apply.
type Firewall struct {
	Family string  `json:"family"` // inet
	Table  string  `json:"table"`
	Chains []Chain `json:"chains"`
	// Flows are the allowed (source, destination, protocol, ports) tuples, one set element each.
	Flows []Flow `json:"flows"`
	// LogGroup is the NFLOG group every drop is logged to.
	LogGroup uint16 `json:"log_group"`
	// Audit logs and accepts what the chains would drop (a component in audit mode),
	// with the prefix "confine-audit CHAIN: " instead of "confine-drop CHAIN: ".
	Audit bool `json:"audit,omitempty"`
	// AuditAddrs are the addresses of a stack's audit-mode components: the bridge logs
	// and accepts what it would drop from or to them.
	AuditAddrs []string `json:"audit_addrs,omitempty"`
}

// Chain is a base chain with policy drop. Hook is input, output or forward.
type Chain struct {
	Name string `json:"name"`
	Hook string `json:"hook"`
	// AcceptLoopback accepts traffic on the lo interface (a component's own loopback).
	AcceptLoopback bool `json:"accept_loopback,omitempty"`
	// FlowsSet is the set this chain looks packets up in.
	FlowsSet string `json:"flows_set"`
	// NamesSet, when set, is a second set of the same key, with element timeouts, that
	// the stack's resolver fills with the answers for declared names.
	NamesSet string `json:"names_set,omitempty"`
}

// Flow allows packets from Src to Dst (CIDRs) with Proto and a destination port in
// [First, Last]. Set names which chain's set holds it.
type Flow struct {
	Set   string `json:"set"`
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Proto string `json:"proto"`
	First uint16 `json:"first"`
	Last  uint16 `json:"last"`
	// Why is the declaration that allows the flow ("api.yaml:14:9 connect db:5432/tcp").
	Why string `json:"why"`
}

// Requirement is something the kernel must provide.
type Requirement struct {
	Mechanism string `json:"mechanism"` // landlock, seccomp, cgroups, nftables, userns
	// MinABI is the minimum Landlock ABI, where the mechanism is landlock.
	MinABI int    `json:"min_abi,omitempty"`
	Why    string `json:"why"`
}
