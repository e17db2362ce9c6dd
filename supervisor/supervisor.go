// Package supervisor runs a compiled stack: its network, its components in dependency
// order with restart policies and health checks, published ports, and the REST API on a
// unix socket that `confine ps`, `logs`, `stop`, `down` and the rest use.
package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/image"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// StateRoot holds one directory per running stack: its API socket, pid file and logs.
const StateRoot = "/run/confine/stacks"

// StateDir is the state directory of stack name.
func StateDir(name string) string { return filepath.Join(StateRoot, name) }

// SocketPath is the API socket of stack name (mode 0600, owned by root).
func SocketPath(name string) string { return filepath.Join(StateDir(name), "api.sock") }

// DetachedLog is where the supervisor of `confine up -d` writes its own messages.
func DetachedLog(name string) string { return filepath.Join(StateRoot, name+".log") }

// DefaultGrace is how long a stopped component has between SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

// Options are the runtime choices of one `confine up`.
type Options struct {
	// Skip names the best_effort mechanisms preflight found missing.
	Skip map[string]bool
	// Echo receives every log line of every component (the foreground terminal), or nil.
	Echo func(component string, line LogLine)
	// OnEvent receives every event as it happens (the audit log), or nil.
	OnEvent func(Event)
	// StartTimeout bounds how long up waits for a component to become healthy.
	StartTimeout time.Duration
	// AuditLog is the hash-chained log every event goes to (audit.Writer), or "" for none.
	AuditLog string
	// Warn receives what the supervisor could not set up but runs without (stderr), or nil.
	Warn func(string)
	// Claim is the stack's claim when the caller took it (up -d passes it to its
	// supervisor); nil to have Up take it.
	Claim *Claim
	// Store is the image store, for components with run.image or volumes.
	Store *image.Store
}

// Supervisor is one running stack.
type Supervisor struct {
	plan   *plan.Plan
	dir    string
	claim  *Claim
	skip   map[string]bool
	bridge *netfilter.Bridge
	// uplink is the stack's way out (uplink.go), nil without one.
	uplink      *netfilter.Uplink
	uplinkDrops *netfilter.LogReader
	bridgeDrops *netfilter.LogReader // the stack firewall's (bridgedrops.go)
	// hostDrops counts the goroutines forwarding uplinkDrops and bridgeDrops.
	hostDrops sync.WaitGroup
	events    *bus
	// attribute names what decided each denial.
	attribute *audit.Attributor
	// kernel reads the kernel's seccomp and Landlock denials; nil when it could not.
	kernel *kernelDenials
	// spawner clones the components' init stages (sandbox.Spawner); nil when it cannot
	// run (without root, or the Go init), and then exec.Cmd starts them.
	spawner *sandbox.Spawner
	// owners names the component of a kernel record by its host ids (attribution.go).
	owners Owners
	// drops turns firewall drops into denials, one per refused connection.
	drops *Coalescer
	// auditLog receives every event, chained; nil without Options.AuditLog.
	auditLog *audit.Writer
	// auditFailed is set (under the bus lock) once the log has failed and it was said.
	auditFailed bool
	store       *image.Store
	comps       []*component // in start order
	byName      map[string]*component

	ctx       context.Context
	cancel    context.CancelFunc
	runners   sync.WaitGroup
	listeners []net.Listener
	dialer    *netfilter.Dialer  // the loopback proxy's sockets, made in the bridge namespace
	rewrite   *netfilter.Rewrite // the loopback's connect-time rewrite (publish.go), or nil
	resolver  *resolver          // the stack's DNS resolver (resolver.go), nil without names
	answers   *DNSAnswers        // what the resolver answered (netnames.go)
	api       *apiServer
	downOnce  sync.Once
	closing   atomic.Bool   // set first thing in Down: no start after it
	done      chan struct{} // closed when the stack is down
}

// Up claims the stack (an *AlreadyUpError if another process has, and then nothing is
// touched), removes what a killed supervisor of the same stack left, makes the state
// directory, the network and the published ports, starts the components in start order
// (each after what it depends on is healthy), and serves the API. It returns once every
// component runs, is healthy when it has a check, and every published port reaches its
// component, within StartTimeout and until ctx is done. On any error everything made so
// far is removed.
func Up(ctx context.Context, p *plan.Plan, opts Options) (_ *Supervisor, err error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = time.Minute
	}
	c := opts.Claim
	if c == nil {
		if c, err = TakeClaim(p.Name); err != nil {
			return nil, err
		}
	}
	if err := Cleanup(p.Name); err != nil {
		c.Release()
		return nil, err
	}
	s := &Supervisor{plan: p, dir: StateDir(p.Name), claim: c, skip: opts.Skip, byName: map[string]*component{}, done: make(chan struct{})}
	s.store = opts.Store
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.attribute = audit.NewAttributor(p)
	s.answers = NewDNSAnswers()
	s.drops = NewCoalescer(s.attribute, s.emitDenial)
	s.events = newBus(p.Name, func(e Event) {
		if s.auditLog != nil {
			// A failed writer keeps failing; the stack runs on, says so once, and verify
			// shows where the log ends.
			_, err := s.auditLog.Append(audit.Record{Time: e.Time, Stack: e.Stack, Component: e.Component, Kind: e.Kind, Details: e.Details})
			if err != nil && !s.auditFailed && opts.Warn != nil {
				s.auditFailed = true
				opts.Warn("the audit log failed; events go on to `confine events` only: " + err.Error())
			}
		}
		if opts.OnEvent != nil {
			opts.OnEvent(e)
		}
	})
	defer func() {
		if err != nil {
			s.Down(0)
		}
	}()
	for _, d := range []string{s.dir, LogDir(s.dir, opts.AuditLog)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return s, err
		}
	}
	if err := os.WriteFile(filepath.Join(s.dir, "supervisor.pid"), []byte(fmt.Sprintf("%d %s\n", os.Getpid(), selfStarted())), 0o600); err != nil {
		return s, err
	}
	if err := s.saveState(opts.AuditLog); err != nil {
		return s, err
	}
	collectors := map[string]any{"network": fmt.Sprintf("NFLOG group %d in each component's namespace", logGroup(p))}
	if err := s.openKernelDenials(); err != nil {
		collectors["kernel"] = "unavailable: " + err.Error()
		if opts.Warn != nil {
			opts.Warn("seccomp and Landlock denials will not be logged: " + err.Error())
		}
	} else {
		collectors["kernel"] = "seccomp and Landlock records from the kernel's audit log group"
	}
	if opts.AuditLog != "" {
		s.auditLog, err = audit.OpenWriter(opts.AuditLog, audit.WriterOptions{
			Stack:        p.Name,
			OpenDetails:  map[string]any{"collectors": collectors, "supervisor_pid": os.Getpid()},
			SyncInterval: audit.DefaultSyncInterval,
			// An exec is on disk before its command runs, or its refusal is answered.
			SyncKinds: []string{EventExit, EventLost, EventStackUp, EventStackDown, EventExec, EventExecExit},
		})
		if err != nil {
			return s, err
		}
	}
	if !p.Single {
		if s.bridge, err = netfilter.CreateBridge(p.Name, p.Network); err != nil {
			return s, err
		}
		if err := s.openUplink(opts.Warn); err != nil {
			return s, err
		}
		s.openBridgeDrops(opts.Warn)
	}
	for i := range p.Components {
		c := &p.Components[i]
		var echo func(LogLine)
		if opts.Echo != nil {
			echo = func(l LogLine) { opts.Echo(c.Name, l) }
		}
		book, err := openLogBook(filepath.Join(LogDir(s.dir, opts.AuditLog), c.Name+".log"), echo)
		if err != nil {
			return s, err
		}
		s.byName[c.Name] = newComponent(s, c, i, book)
	}
	order := p.StartOrder
	if len(order) == 0 {
		for _, c := range p.Components {
			order = append(order, c.Name)
		}
	}
	for _, name := range order {
		s.comps = append(s.comps, s.byName[name])
	}
	s.spawner, _ = sandbox.StartSpawner() // nil: exec.Cmd starts every component
	s.ownRanges()
	s.startKernelDenials()
	if s.bridgeDrops != nil {
		s.hostDrops.Add(1)
		go func() { defer s.hostDrops.Done(); s.forwardBridgeDrops() }()
	}
	for _, c := range s.comps {
		s.runners.Add(1)
		go func() { defer s.runners.Done(); c.run(s.ctx) }()
	}
	if err := s.startResolver(); err != nil {
		return s, err
	}
	if s.api, err = serveAPI(s, SocketPath(p.Name)); err != nil {
		return s, err
	}
	if err := s.publish(opts.Warn); err != nil {
		return s, err
	}
	if err := s.startAll(ctx, opts.StartTimeout); err != nil {
		return s, err
	}
	s.events.emit("", EventStackUp, map[string]any{"components": order})
	return s, nil
}

// startAll starts every component and waits until the stack is ready (ready.go), all
// within timeout, until ctx is done or the stack goes down.
func (s *Supervisor) startAll(ctx context.Context, timeout time.Duration) error {
	start, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	err := s.startComponents(start)
	if err == nil {
		err = s.waitReady(start)
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("stack %s: interrupted while coming up (%w)", s.plan.Name, err)
	case errors.Is(start.Err(), context.DeadlineExceeded):
		return fmt.Errorf("stack %s did not come up within %v: %w", s.plan.Name, timeout.Round(100*time.Millisecond), err)
	}
	return err
}

func (s *Supervisor) startComponents(ctx context.Context) error {
	for _, c := range s.comps {
		if err := s.startAfterDeps(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// startAfterDeps starts c once what it depends on (depends_on and the components it
// connects to, which the start order put first) runs and is healthy.
func (s *Supervisor) startAfterDeps(ctx context.Context, c *component) error {
	for _, dep := range s.dependencies(c) {
		if err := dep.waitHealthy(ctx); err != nil {
			return fmt.Errorf("starting %s: %w", c.plan.Name, err)
		}
	}
	return c.start(ctx)
}

// dependencies are the components c must wait for: its depends_on, and its callees.
func (s *Supervisor) dependencies(c *component) []*component {
	var deps []*component
	for _, name := range c.plan.Supervise.DependsOn {
		if d := s.byName[name]; d != nil {
			deps = append(deps, d)
		}
	}
	for _, h := range c.plan.Net.Hosts {
		if d := s.byName[h.Name]; d != nil && d != c && !slices.Contains(deps, d) && s.startsBefore(d, c) {
			deps = append(deps, d)
		}
	}
	return deps
}

func (s *Supervisor) startsBefore(a, b *component) bool {
	return slices.Index(s.comps, a) < slices.Index(s.comps, b)
}

// Done is closed once the stack is down (by Down, or through the API).
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// ValidName reports whether name can be a stack's name (the policy's rule), so that it
// is safe in the paths under /run/confine.
func ValidName(name string) bool {
	if name == "" || len(name) > 32 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Down stops every component (SIGTERM, SIGKILL after grace), closes the published ports
// and the API, removes the network and the state directory. It is safe to call twice.
func (s *Supervisor) Down(grace time.Duration) {
	s.downOnce.Do(func() {
		s.closing.Store(true)
		s.cancel()        // Up stops waiting to start what is left
		s.rewrite.Close() // the published ports close: no more rewritten connections
		for _, l := range s.listeners {
			l.Close()
		}
		if s.dialer != nil {
			s.dialer.Close()
		}
		if s.resolver != nil {
			s.resolver.close()
		}
		var wg sync.WaitGroup
		for _, c := range s.comps {
			wg.Add(1)
			go func() { defer wg.Done(); c.stop(grace) }()
		}
		wg.Wait()
		s.runners.Wait()
		if s.spawner != nil {
			s.spawner.Close()
		}
		for _, c := range s.comps {
			c.log.close()
		}
		s.closeKernelDenials()
		// Their last counts of unlogged drops, while the log is open and the tables stand.
		for _, r := range []*netfilter.LogReader{s.uplinkDrops, s.bridgeDrops} {
			if r != nil {
				r.Close()
			}
		}
		s.hostDrops.Wait()
		s.drops.Flush("") // the retransmission tallies still open, before the log closes
		s.events.emit("", EventStackDown, nil)
		if s.auditLog != nil {
			s.auditLog.Close()
		}
		if s.api != nil {
			s.api.close()
		}
		s.closeUplink()
		if s.bridge != nil {
			s.bridge.Remove()
		}
		os.RemoveAll(s.dir)
		os.Remove(DetachedLog(s.plan.Name))
		s.claim.Release()
		close(s.done)
	})
}

// saveState keeps the Plan and the audit log's path beside the API socket, for
// `confine audit report STACK`.
func (s *Supervisor) saveState(auditLog string) error {
	data, err := json.Marshal(s.plan)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "plan.json"), data, 0o600); err != nil {
		return err
	}
	if auditLog == "" {
		return nil
	}
	abs, err := filepath.Abs(auditLog)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "audit-log"), []byte(abs+"\n"), 0o600)
}

// SavedState is the Plan of the running stack name and its audit log's path ("" for none).
func SavedState(name string) (*plan.Plan, string, error) {
	data, err := os.ReadFile(filepath.Join(StateDir(name), "plan.json"))
	if err != nil {
		return nil, "", err
	}
	var p plan.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, "", err
	}
	log, _ := os.ReadFile(filepath.Join(StateDir(name), "audit-log"))
	return &p, strings.TrimSpace(string(log)), nil
}

// logGroup is the NFLOG group the components' firewalls log drops to.
func logGroup(p *plan.Plan) uint16 {
	if len(p.Components) > 0 {
		return p.Components[0].Net.Firewall.LogGroup
	}
	return 0
}

// Status lists the components in start order.
func (s *Supervisor) Status() []Status {
	var out []Status
	for _, c := range s.comps {
		out = append(out, c.snapshot())
	}
	return out
}

func (s *Supervisor) component(name string) (*component, error) {
	if c := s.byName[name]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w %q in stack %s", errNotFound, name, s.plan.Name)
}

// forwardDrops turns the component's NFLOG records into denial events until the reader
// is closed with the component's run.
func (s *Supervisor) forwardDrops(component string, r *netfilter.LogReader) {
	for {
		rec, err := r.Next()
		if err != nil {
			s.drops.Flush(component)
			return
		}
		if rec.Suppressed > 0 {
			s.events.emit(component, EventSuppressed, SuppressedDetails("", rec))
			continue
		}
		if rec.Lost > 0 {
			s.events.emit(component, EventLost, map[string]any{"layer": audit.LayerNetwork, "lost": rec.Lost})
		}
		chain, _ := netfilter.LogChain(rec.Prefix)
		s.drops.Add(component, chain, rec) // retransmissions coalesced (coalesce.go)
	}
}

// hostsFile is the component's /etc/hosts: itself and the peers it may reach, nothing
// else. A single component keeps the view its mounts give it.
func hostsFile(c *plan.Component) string {
	if c.Net.Address == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
	fmt.Fprintf(&b, "%s\t%s\n", c.Net.Address, c.Process.Hostname)
	for _, h := range c.Net.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.Address, h.Name)
	}
	return b.String()
}

// Running reports the pid of the supervisor of stack name, and whether it still runs.
// The pid file holds the process's start time too, so a reused pid is not mistaken for it.
func Running(name string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(StateDir(name), "supervisor.pid"))
	if err != nil {
		return 0, false
	}
	var pid int
	var started string
	if n, _ := fmt.Sscan(string(data), &pid, &started); n != 2 || pid <= 0 {
		return 0, false
	}
	_, st := sandbox.ProcStat(pid)
	return pid, st == started && !sandbox.Gone(pid)
}

func selfStarted() string {
	_, started := sandbox.ProcStat(os.Getpid())
	return started
}

// Cleanup removes what a supervisor of stack name that was killed left behind (DESIGN.md
// invariant 7); the caller holds the stack's claim. Its components died with it
// (parent-death signal), except a frozen one, which is thawed and killed; their cgroups
// empty as the kernel reaps them, so Cleanup waits a little. The kernel's audit is put
// back if the killed supervisor was its last holder.
func Cleanup(name string) error {
	var errs []error
	if err := netfilter.SweepUplinks(); err != nil {
		errs = append(errs, err)
	}
	if err := netfilter.RemoveBridge(name); err != nil {
		errs = append(errs, err)
	}
	busy := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if busy = sandbox.KillCgroups(name + "."); busy == 0 || time.Now().After(deadline) {
			break
		}
	}
	if busy > 0 {
		errs = append(errs, fmt.Errorf("%d cgroups of stack %s still hold processes under /sys/fs/cgroup/*%s", busy, name, sandbox.CgroupParent))
	}
	sandbox.SweepRoots()
	if err := os.RemoveAll(StateDir(name)); err != nil {
		errs = append(errs, err)
	}
	if err := sandbox.SweepKernelAudit(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
