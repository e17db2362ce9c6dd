//go:build !confine_slim

package main

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/learn"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
)

// runAudit is what `confine run --audit-log FILE` and `--show-denials` add to a run: the
// supervisor's hash-chained log (policy.applied, component.start and exit, each denial)
// and a one-line account of each denial on stderr as it happens. Landlock logs nothing
// while the kernel's audit is off, so the run holds it on (sandbox.EnableKernelAudit)
// from before the init stage forks, and only when a flag asks.
type runAudit struct {
	runAuditFlags
	// onStart, when set, is called once the component runs (confine learn's workload).
	onStart func(*sandbox.Sandbox)
	// calls, when not nil, counts the observed calls by syscall (confine learn): a call
	// the policy allows gives no denial, and learn must still know it was made.
	calls map[string]int

	name, stack string
	c           *plan.Component
	stderr      io.Writer
	attribute   *audit.Attributor
	owners      supervisor.Owners
	drops       *supervisor.Coalescer
	answers     *supervisor.DNSAnswers // what the lone resolver answered, nil without one
	answerFrom  netip.Addr             // the component's address on its uplink
	log         *audit.Writer
	reader      *sandbox.AuditReader
	restore     func() error
	collected   chan struct{}
	nflog       *netfilter.LogReader
	forwarded   chan struct{}

	mu       sync.Mutex
	broken   bool // the log failed, and it was said
	initPid  int
	pidNS    string // the component's pid namespace, once it runs
	reported sandbox.AuditLoss
}

// open starts the log and the kernel's denial reader before the launch; what cannot be
// read is said on stderr and in the log's audit.open record, and the run goes on.
func (r *runAudit) open(c *plan.Component, stack string, stderr io.Writer) error {
	r.c, r.stack, r.name, r.stderr = c, stack, c.Name, stderr
	p := &plan.Plan{Name: stack, Components: []plan.Component{*c}, Single: stack == ""}
	if p.Name == "" {
		p.Name = c.Name
	}
	r.attribute = audit.NewAttributor(p)
	r.drops = supervisor.NewCoalescer(r.attribute, func(name string, d map[string]any) { r.emit(audit.KindDenial, d) })
	if uid, gid, ok, err := sandbox.HostIDRange(stack, c.Name); err == nil && ok {
		r.owners.Add(c.Name, uid, gid)
	}
	collectors := map[string]any{"network": fmt.Sprintf("NFLOG group %d in the component's namespace", c.Net.Firewall.LogGroup)}
	if err := r.openKernel(); err != nil {
		collectors["kernel"] = "unavailable: " + err.Error()
		fmt.Fprintf(stderr, "confine: warning: seccomp and Landlock denials will not be shown: %v\n", err)
	} else {
		collectors["kernel"] = "seccomp and Landlock records from the kernel's audit log group"
	}
	if r.logPath != "" {
		w, err := audit.OpenWriter(r.logPath, audit.WriterOptions{
			Stack:        stack,
			OpenDetails:  map[string]any{"collectors": collectors, "run_pid": os.Getpid(), "component": c.Name},
			SyncInterval: audit.DefaultSyncInterval,
			SyncKinds:    []string{audit.KindExit, audit.KindLost},
		})
		if err != nil {
			r.closeKernel()
			return fmt.Errorf("--audit-log: %w", err)
		}
		r.log = w
	}
	if r.reader != nil {
		r.collected = make(chan struct{})
		go r.collectKernel()
	}
	return nil
}

func (r *runAudit) openKernel() error {
	reader, restore, err := sandbox.OpenKernelAudit()
	if err != nil {
		return err
	}
	r.reader, r.restore = reader, restore
	return nil
}

// attach listens for the firewall's drops before the component's first instruction.
func (r *runAudit) attach(sb *sandbox.Sandbox) error {
	nl, err := netfilter.ListenLog(sb.NetNS(), r.c.Net.Firewall.LogGroup)
	if err != nil {
		fmt.Fprintf(r.stderr, "confine: warning: firewall drops will not be shown: %v\n", err)
		return nil
	}
	if err := nl.CountSuppressed(r.c.Net.Firewall.Table); err != nil {
		fmt.Fprintf(r.stderr, "confine: warning: unlogged firewall drops will not be counted: %v\n", err)
	}
	r.nflog, r.forwarded = nl, make(chan struct{})
	go func() {
		defer close(r.forwarded)
		for {
			rec, err := nl.Next()
			if err != nil {
				r.drops.Flush("")
				return
			}
			if rec.Suppressed > 0 {
				r.emit(supervisor.EventSuppressed, supervisor.SuppressedDetails("", rec))
				continue
			}
			if rec.Lost > 0 {
				r.emit(audit.KindLost, map[string]any{"layer": audit.LayerNetwork, "lost": rec.Lost})
			}
			chain, _ := netfilter.LogChain(rec.Prefix)
			r.drops.Add(r.name, chain, rec)
		}
	}()
	return nil
}

// started writes the component.start record; the pid also attributes what the host ids
// cannot (a run without root has no range of its own).
func (r *runAudit) started(sb *sandbox.Sandbox) {
	uid, gid := sb.HostIDs()
	ns, _ := os.Readlink("/proc/" + strconv.Itoa(sb.Pid()) + "/ns/pid")
	r.mu.Lock()
	r.initPid, r.pidNS = sb.Pid(), ns
	r.mu.Unlock()
	start := map[string]any{"pid": sb.Pid(), "policy": r.c.Source, "policy_sha256": r.c.SourceHash,
		"seccomp_sha256": r.c.Seccomp.ProgramSHA256, "host_uid": uid, "host_gid": gid}
	if f := sb.Findings(); len(f) > 0 {
		start["best_effort_skipped"] = f
	}
	supervisor.StartMode(r.c, start)
	r.emit(audit.KindStart, start)
	if r.onStart != nil {
		r.onStart(sb)
	}
}

// observed records an audit-mode component's would-be denials of one observed call.
func (r *runAudit) observed(call observe.Call) {
	if r.calls != nil {
		r.mu.Lock()
		r.calls[call.Syscall]++
		r.mu.Unlock()
	}
	for _, d := range supervisor.ObservedDenials(r.attribute, r.c, call) {
		r.emit(audit.KindDenial, d)
	}
}

// collectKernel emits the run's kernel denials until the reader is closed.
func (r *runAudit) collectKernel() {
	defer close(r.collected)
	for {
		d, err := r.reader.Next()
		if err != nil {
			return
		}
		if d.Lost > 0 {
			r.reportLoss()
		}
		if !r.ours(d) {
			continue
		}
		if details := supervisor.KernelDenialDetails(r.attribute, r.name, d); details != nil {
			r.emit(audit.KindDenial, details)
		}
	}
}

// ours reports whether a kernel record is the run's: by its host ids, or its pid when
// they say nothing. A concurrent lone run of the component leases a range of its own, but
// a run of a stack's component shares the stack's: a process that still lives must also
// be in this run's pid namespace; one that is gone is taken on its ids alone.
func (r *runAudit) ours(d sandbox.KernelDenial) bool {
	r.mu.Lock()
	initPid, ns := r.initPid, r.pidNS
	r.mu.Unlock()
	if r.owners.Of(d.UID, d.GID) == "" {
		return d.Pid > 0 && d.Pid == initPid
	}
	if ns == "" || d.Pid <= 0 {
		return true
	}
	theirs, err := os.Readlink("/proc/" + strconv.Itoa(d.Pid) + "/ns/pid")
	return err != nil || theirs == ns
}

// launching records the enforcement before the launch, and a failed launch after it.
func (r *runAudit) launching(skip map[string]bool) {
	r.emit(audit.KindPolicy, supervisor.Enforcement(r.c, skip))
}

func (r *runAudit) startFailed(err error) {
	r.closeNFLOG()
	r.emit(audit.KindStartFail, map[string]any{"error": err.Error()})
	r.close()
}

// exited writes the exit, lets the kernel's last records arrive, and closes everything.
func (r *runAudit) exited(code int, oomKilled bool) {
	r.closeNFLOG()
	details := map[string]any{"exit_code": code}
	if code > 128 {
		details["signal"] = syscall.Signal(code - 128).String()
	}
	if oomKilled {
		details["oom_killed"] = true
	}
	r.emitCalls()
	r.emit(audit.KindExit, details)
	r.close()
}

// closeNFLOG ends the drops' reader, once its last records are denials.
func (r *runAudit) closeNFLOG() {
	if r.nflog != nil {
		r.nflog.Close()
		<-r.forwarded
		r.nflog = nil
	}
}

// close stops the readers, records any loss and puts the kernel's audit back.
func (r *runAudit) close() {
	if r.reader != nil {
		time.Sleep(200 * time.Millisecond) // the kernel's queue drains to readers within this
		r.reader.Close()
		<-r.collected
		r.reportLoss()
	}
	r.closeKernel()
	if r.log != nil {
		if err := r.log.Close(); err != nil {
			fmt.Fprintf(r.stderr, "confine: warning: the audit log: %v\n", err)
		}
	}
}

func (r *runAudit) closeKernel() {
	if r.restore != nil {
		r.restore()
		r.restore = nil
	}
}

// reportLoss writes an audit.lost record when records were lost since the last one.
func (r *runAudit) reportLoss() {
	loss, err := r.reader.Lost()
	if err != nil {
		return
	}
	r.mu.Lock()
	d := map[string]any{"layer": "kernel"}
	if loss.Socket > r.reported.Socket {
		d["socket"] = loss.Socket - r.reported.Socket
	}
	if loss.Kernel > r.reported.Kernel {
		d["kernel_host_wide"] = loss.Kernel - r.reported.Kernel
	}
	if loss.Landlock > r.reported.Landlock {
		d["landlock"] = loss.Landlock - r.reported.Landlock
	}
	r.reported = loss
	r.mu.Unlock()
	if len(d) > 1 {
		r.emit(audit.KindLost, d)
	}
}

// emit appends one record to the log and prints a denial when asked to.
// nameAnswers makes the run's network denials to an address the resolver answered the
// component (at from) with name it (supervisor.DNSAnswers.Annotate).
func (r *runAudit) nameAnswers(answers *supervisor.DNSAnswers, from netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers, r.answerFrom = answers, from
}

func (r *runAudit) emit(kind string, details map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == audit.KindDenial && r.answers != nil {
		r.answers.Annotate(r.answerFrom, details)
	}
	component := r.name
	if kind == audit.KindLost && details["layer"] == "kernel" {
		component = "" // host-wide, as a stack's
	}
	if r.log != nil && !r.broken {
		rec := audit.Record{Time: time.Now().UTC(), Stack: r.stack, Component: component, Kind: kind, Details: details}
		if _, err := r.log.Append(rec); err != nil {
			r.broken = true
			fmt.Fprintf(r.stderr, "confine: warning: the audit log failed: %v\n", err)
		}
	}
	if r.show && kind == audit.KindDenial {
		fmt.Fprintln(r.stderr, denialLine(details))
	}
}

// denialLine is one denial for a reader at the terminal:
// "denied: landlock write_file /etc/x: web needs write_file on /etc/x, which no
// filesystem declaration names (default deny)".
func denialLine(d map[string]any) string {
	line := fmt.Sprintf("denied: %v %v: %v", d[audit.DetailLayer], d[audit.DetailWhat], d[audit.DetailReason])
	switch {
	case d[audit.DetailDecidedBy] == "default":
		line += " (default deny)"
	case d[audit.DetailRule] != nil:
		line += fmt.Sprintf(" (rule %v)", d[audit.DetailRule])
	}
	if n, ok := d[audit.DetailCount].(int); ok && n > 1 {
		line += fmt.Sprintf(" ×%d", n)
	}
	if d["retransmissions"] == true {
		line += " (retransmissions)"
	}
	if d[audit.DetailEnforced] == false {
		line += " [not enforced: logged only]"
	}
	if d[audit.DetailExpected] == true {
		line += " [expected]"
	}
	return line
}

func (r *runAudit) emitCalls() {
	if r.calls == nil {
		return
	}
	r.mu.Lock()
	calls := maps.Clone(r.calls)
	r.mu.Unlock()
	r.emit(learn.KindObservedCalls, map[string]any{"calls": calls})
}
