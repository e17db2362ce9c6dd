// Package audit is confine's record of what happened: the hash-chained event log
// (log.go writes it, verify.go reads and checks it) and the attribution of each kernel
// denial to the declaration that decided it (attribute.go, expected.go). The reviewer's
// report is audit/report and the policy diff audit/diff; both import this package, never
// the reverse. It reads Plans, never policy YAML: the caller compiles.
package audit

import "time"

// Record is one line of the audit log. Every layer (lifecycle, seccomp, Landlock, network)
// uses this shape; what differs lives in Details.
type Record struct {
	Seq       uint64         `json:"seq"`
	Time      time.Time      `json:"time"`
	Stack     string         `json:"stack,omitempty"`
	Component string         `json:"component,omitempty"`
	Kind      string         `json:"kind"`
	Details   map[string]any `json:"details,omitempty"`
	// Prev is the hex SHA-256 of the previous record's line as written (without its
	// newline); the first record of a log holds GenesisHash.
	Prev string `json:"prev"`
}

// GenesisHash is Prev of a log's first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Record kinds. Lifecycle kinds match the supervisor's event kinds.
const (
	KindOpen      = "audit.open"    // first record: format version, host, collectors
	KindRotated   = "audit.rotated" // first record of a file after rotation: the previous file
	KindClose     = "audit.close"   // last record of a cleanly closed log
	KindLost      = "audit.lost"    // the kernel or a reader reported records it dropped
	KindPolicy    = "policy.applied"
	KindStart     = "component.start"
	KindStartFail = "component.start_failed"
	KindExit      = "component.exit"
	KindRestart   = "component.restart"
	KindDenial    = "denial"
	// KindSuppressed counts drops a firewall's log limit kept out of the log: Details
	// "suppressed" packets of "chain", dropped all the same.
	KindSuppressed = "denial.suppressed"
)

// Denial layers, in Details["layer"] of a KindDenial record.
const (
	LayerSeccomp  = "seccomp"
	LayerLandlock = "landlock"
	LayerNetwork  = "network"
)

// Details keys every denial carries, whatever its layer.
const (
	// DetailLayer is seccomp, landlock or network.
	DetailLayer = "layer"
	// DetailWhat is the attempt in a few words: "syscall mount", "write_file /etc/passwd",
	// "connect 10.88.0.4:5432/tcp".
	DetailWhat = "what"
	// DetailDecidedBy is "rule" when an explicit rule denied, "default" when nothing was declared.
	DetailDecidedBy = "decided_by"
	// DetailRule is the rule's position and text ("api.yaml:14:9 syscalls.deny[0] mount"),
	// when DecidedBy is "rule".
	DetailRule = "rule"
	// DetailReason is one sentence a reviewer reads: "api connects to db:5432/tcp, but db's
	// listen.from does not name api".
	DetailReason = "reason"
)
