package supervisor

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
)

// kernelDenials is the stack's reader of the kernel's seccomp and Landlock denials
// (sandbox.ListenKernelAudit), which sees every process on the host: the supervisor keeps
// those of its own components.
type kernelDenials struct {
	reader  *sandbox.AuditReader
	restore func() error
	// done is closed when collectKernel returns; nil until startKernelDenials.
	done chan struct{}
	// reported is the loss already written, so each audit.lost says what is new.
	reported sandbox.AuditLoss
}

// openKernelDenials turns the kernel's audit on if it is off (Landlock logs nothing
// otherwise) and joins its log group; startKernelDenials starts reading. What fails is
// returned for the log's audit.open record: the stack still runs, and the log says which
// denials it cannot show.
func (s *Supervisor) openKernelDenials() error {
	r, restore, err := sandbox.OpenKernelAudit()
	if err != nil {
		return err
	}
	s.kernel = &kernelDenials{reader: r, restore: restore}
	return nil
}

// startKernelDenials starts collecting once s.comps and s.auditLog are set, which the
// collector reads without a lock; records that arrive before wait in the socket.
func (s *Supervisor) startKernelDenials() {
	if s.kernel != nil {
		s.kernel.done = make(chan struct{})
		go s.collectKernel()
	}
}

// collectKernel emits a denial event for each kernel record about one of the stack's
// processes, attributed to what decided it, until the reader is closed.
func (s *Supervisor) collectKernel() {
	k := s.kernel
	defer close(k.done)
	tick := time.Now()
	for {
		d, err := k.reader.Next()
		if err != nil {
			return
		}
		if time.Since(tick) > 5*time.Second {
			s.reportKernelLoss()
			tick = time.Now()
		}
		if d.Lost > 0 {
			s.reportKernelLoss()
		}
		name := s.kernelComponent(d)
		if name == "" {
			continue
		}
		details := KernelDenialDetails(s.attribute, name, d)
		if details == nil {
			continue
		}
		s.emitDenial(name, details)
	}
}

// reportKernelLoss writes an audit.lost event when the reader or the kernel lost records
// since the last report. The kernel's counter is host-wide: the lost records may have been
// another program's.
func (s *Supervisor) reportKernelLoss() {
	k := s.kernel
	loss, err := k.reader.Lost()
	if err != nil {
		return
	}
	d := map[string]any{"layer": "kernel"}
	for key, n := range map[string][2]uint64{
		"socket": {loss.Socket, k.reported.Socket}, "kernel_host_wide": {loss.Kernel, k.reported.Kernel},
		"landlock": {loss.Landlock, k.reported.Landlock},
	} {
		if n[0] > n[1] {
			d[key] = n[0] - n[1]
		}
	}
	if len(d) > 1 {
		k.reported = loss
		s.events.emit("", EventLost, d)
	}
}

// closeKernelDenials lets records still in flight arrive, stops the reader, and puts the
// kernel's audit back as it was when nothing else of confine's still needs it
// (sandbox.EnableKernelAudit).
func (s *Supervisor) closeKernelDenials() {
	k := s.kernel
	if k == nil {
		return
	}
	time.Sleep(200 * time.Millisecond) // the kernel's queue drains to readers within this
	k.reader.Close()
	if k.done != nil {
		<-k.done
	}
	s.reportKernelLoss()
	k.restore()
}

// componentOf names the stack's component that pid belongs to: a component's own process,
// current or of a recent run (a seccomp kill's record arrives after the process is gone),
// or one in its cgroup (named STACK.COMPONENT-…); "" for any other process.
func (s *Supervisor) componentOf(pid int) string {
	if pid <= 0 {
		return ""
	}
	for _, c := range s.comps {
		c.mu.Lock()
		own := c.sb != nil && c.sb.Pid() == pid || slices.Contains(c.pastPids, pid)
		c.mu.Unlock()
		if own {
			return c.plan.Name
		}
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	// Cgroups are named STACK.COMPONENT-SUPERVISORPID-N (sandbox.NewCgroup).
	prefix := sandbox.CgroupParent + "/" + s.plan.Name + "."
	self := "-" + strconv.Itoa(os.Getpid()) + "-"
	for line := range strings.Lines(string(data)) {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) < 3 {
			continue
		}
		rest, ok := strings.CutPrefix(parts[2], prefix)
		if !ok {
			continue
		}
		for _, c := range s.comps {
			if strings.HasPrefix(rest, c.plan.Name+self) {
				return c.plan.Name
			}
		}
	}
	return ""
}
