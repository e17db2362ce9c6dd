package plan

// Uplink is a stack's way out of its bridge namespace: a veth to the host namespace
// (where confine runs), the bridge namespace masquerading behind it, and a table of the
// stack's own in the host namespace. It is nil when nothing of the stack leaves it, and
// then nothing on the host changes. Built by compileUplink (policy/compile_egress.go),
// applied by netfilter.CreateUplink (netfilter/uplink_linux.go). The uplink's addresses
// are allocated at apply time, like pids: they stay out of the Plan.
type Uplink struct {
	// Outside are the egress flows to addresses outside the stack (copies of the
	// components' flows): the bridge forwards these, and only these, to the uplink.
	Outside []Flow `json:"outside,omitempty"`
	// Host are the flows of `connect: host:PORT/PROTO`: Dst is the bridge address, which
	// the bridge namespace DNATs to the uplink's gateway, the host's side of the veth.
	Host []Flow `json:"host,omitempty"`
	// Names are the declared DNS names of every component (ComponentNet.Names).
	Names []NameFlow `json:"names,omitempty"`
}

// NameFlow allows Src to reach whatever addresses the stack's resolver answers for Name,
// with Proto and a port in [First, Last], for the answer's TTL: the resolver adds them
// to the NamesSet of the component's egress chain and of the bridge's forward chain
// before the answer reaches the component. Built by addName (policy/names.go), served
// by the supervisor's resolver (supervisor/resolver.go).
type NameFlow struct {
	Name  string `json:"name"`
	Src   string `json:"src"`
	Proto string `json:"proto"`
	First uint16 `json:"first"`
	Last  uint16 `json:"last"`
	Why   string `json:"why"`
}

// ResolverWhy marks the flows to the resolver (port 53) that declared names bring with
// them: confine adds them itself (policy/names.go).
const ResolverWhy = "built-in: the resolver, for the names network.connect declares"
