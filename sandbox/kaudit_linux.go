package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/confine-sandbox/confine/internal/sockstat"
	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// auditReadBuffer is the socket receive buffer asked for (SO_RCVBUFFORCE as root; the
// kernel doubles it). A queued record costs about 835 bytes of it (SO_MEMINFO, Linux
// 6.18), so 64 MiB hold about 80,000: a burst of 20,000 Landlock denials is 40,000
// records after recordFilter, and came in 0.6 s, faster than a reader on a busy
// 2-core machine drains them: asking 16 MiB lost 1,362 records in one run of four
// while the filter still let EOE records through (60,000). Memory is taken only while
// records wait.
const auditReadBuffer = 32 << 20

// auditStatus is struct audit_status (include/uapi/linux/audit.h), the payload of
// AUDIT_GET's reply and of AUDIT_SET; x/sys/unix does not define it.
type auditStatus struct {
	Mask, Enabled, Failure, Pid, RateLimit, BacklogLimit, Lost, Backlog uint32
	FeatureBitmap, BacklogWaitTime, BacklogWaitTimeActual               uint32
}

// AuditReader receives the kernel's seccomp and Landlock records from the audit
// multicast group: read-only, beside any auditd, never in its place (no AUDIT_SET of
// the daemon pid). One goroutine calls Next; Close and Lost may be called from any.
type AuditReader struct {
	conn       *netlink.Conn
	events     *events
	ready      []KernelDenial
	drops      uint32 // sk_drops at the last count
	unreported uint64 // socket drops no denial has reported yet
	socketLost atomic.Uint64
	domainLost atomic.Uint64
	kernelLost uint32 // the kernel's lost counter when listening began
	closed     atomic.Bool
}

// ListenKernelAudit joins the kernel's audit log group (AUDIT_NLGRP_READLOG), which
// needs CAP_AUDIT_READ and does not displace an auditd; reading the kernel's lost
// counter (AUDIT_GET) needs CAP_AUDIT_CONTROL, as root in the host's namespaces has. Seccomp logs whatever
// audit_enabled says; Landlock only while it is on: see EnableKernelAudit.
func ListenKernelAudit() (*AuditReader, error) {
	st, err := getAuditStatus()
	if err != nil {
		return nil, err
	}
	conn, err := netlink.Dial(unix.NETLINK_AUDIT, nil)
	if err != nil {
		return nil, fmt.Errorf("kaudit: %w", err)
	}
	r := &AuditReader{conn: conn, events: newEvents(), kernelLost: st.Lost}
	if err := r.join(); err != nil {
		conn.Close()
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("kaudit: joining the audit log group: %w (CAP_AUDIT_READ is missing)", err)
		}
		return nil, fmt.Errorf("kaudit: joining the audit log group: %w", err)
	}
	return r, nil
}

// join sizes the buffer, filters and starts the drop count before any record can arrive.
func (r *AuditReader) join() error {
	if err := r.conn.SetReadBuffer(auditReadBuffer); err != nil {
		return err
	}
	filter, err := recordFilter(auditSyscall, auditSeccomp, auditLandlockAccess, auditLandlockDomain)
	if err != nil {
		return err
	}
	if err := r.conn.SetBPF(filter); err != nil {
		return err
	}
	// An overrun would otherwise surface once as ENOBUFS from recvmsg; sk_drops counts
	// each lost record either way.
	if err := r.conn.SetOption(netlink.NoENOBUFS, true); err != nil {
		return err
	}
	if err := r.countDrops(); err != nil {
		return err
	}
	return r.conn.JoinGroup(unix.AUDIT_NLGRP_READLOG)
}

// recordFilter is a socket filter that lets only records of the given types into the
// receive buffer: the group carries every record on the host, and of the four records
// of a Landlock denial's event, PROCTITLE and EOE would take half of it in a burst
// (events completes an event at its SYSCALL record). The kernel filters before
// queueing (do_one_broadcast), so what the filter drops is not counted as lost.
func recordFilter(types ...uint16) ([]bpf.RawInstruction, error) {
	// nlmsg_type is in host order at offset 4; a BPF load reads network order.
	prog := []bpf.Instruction{bpf.LoadAbsolute{Off: 4, Size: 2}}
	for i, t := range types {
		v := binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, t))
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v), SkipTrue: uint8(len(types) - i)})
	}
	prog = append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 0xffffffff})
	return bpf.Assemble(prog)
}

// Next blocks for the next denial. After Close it returns the Landlock denials still
// waiting for the rest of their event, then an error wrapping net.ErrClosed. Any other
// error concerns one record, and Next may be called again.
func (r *AuditReader) Next() (KernelDenial, error) {
	for {
		if len(r.ready) > 0 {
			d := r.ready[0]
			r.ready = r.ready[1:]
			d.Lost, r.unreported = r.unreported, 0
			return d, nil
		}
		if r.closed.Load() {
			if r.ready = r.events.expire(time.Now().Add(eventWait)); len(r.ready) > 0 {
				continue
			}
			return KernelDenial{}, fmt.Errorf("kaudit: %w", net.ErrClosed)
		}
		if err := r.conn.SetReadDeadline(r.events.deadline()); err != nil && !r.closed.Load() {
			return KernelDenial{}, fmt.Errorf("kaudit: %w", err)
		}
		msgs, err := r.conn.Receive()
		switch {
		case r.closed.Load():
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			r.ready = r.events.expire(time.Now())
			continue
		case err != nil:
			return KernelDenial{}, fmt.Errorf("kaudit: %w", err)
		}
		if err := r.countDrops(); err != nil {
			return KernelDenial{}, fmt.Errorf("kaudit: %w", err)
		}
		if err := r.add(msgs); err != nil {
			return KernelDenial{}, err
		}
	}
}

// add parses the records of the types events assembles and queues what they complete.
func (r *AuditReader) add(msgs []netlink.Message) error {
	var bad error
	now := time.Now()
	for _, m := range msgs {
		switch m.Header.Type {
		case auditSeccomp, auditLandlockAccess, auditLandlockDomain, auditSyscall, auditEOE:
		default:
			continue // every other record on the host: logins, config changes, AVCs ...
		}
		rec, err := parseAuditRecord(uint16(m.Header.Type), m.Data)
		if err != nil {
			bad = fmt.Errorf("kaudit: bug: malformed record of type %d %q: %w", m.Header.Type, m.Data, err)
			continue
		}
		r.ready = append(r.ready, r.events.add(rec, now)...)
	}
	r.domainLost.Store(r.events.lost)
	return bad
}

// Close leaves the group; the kernel drops the membership with the socket, and with it
// the records still in its buffer: to keep them, let the components end and Next catch
// up first.
func (r *AuditReader) Close() error {
	r.closed.Store(true)
	return r.conn.Close()
}

// Lost reports what never reached the reader so far; the caller writes it down as an
// audit.lost record. It asks the kernel for its counter (AUDIT_GET) each time.
func (r *AuditReader) Lost() (AuditLoss, error) {
	st, err := getAuditStatus()
	if err != nil {
		return AuditLoss{}, err
	}
	kernel := uint64(st.Lost - r.kernelLost) // modular: the kernel counter is 32 bits
	if st.Lost < r.kernelLost {
		kernel = uint64(st.Lost) // reset since (AUDIT_STATUS_LOST, auditctl --reset-lost)
	}
	return AuditLoss{Socket: r.socketLost.Load(), Kernel: kernel, Landlock: r.domainLost.Load()}, nil
}

// countDrops adds the messages netlink_overrun discarded since the last call, read as
// SO_MEMINFO's sk_drops (as the NFLOG reader does).
func (r *AuditReader) countDrops() error {
	drops, err := sockstat.Drops(r.conn)
	if err != nil {
		return err
	}
	n := uint64(drops - r.drops) // modular: the kernel counter is 32 bits
	r.drops = drops
	r.unreported += n
	r.socketLost.Add(n)
	return nil
}

// KernelAuditBacklog is the kernel's audit queue length (backlog_limit) that
// EnableKernelAudit asks for. Past the limit the kernel drops every record whose writer
// cannot sleep, and Landlock's cannot (GFP_ATOMIC): with the default of 64, 1,192 of
// 5,000 denials from one component were lost on Linux 6.18, none with 1,024. Seccomp's
// writer sleeps instead (backlog_wait_time), which slows the denied process. A queued
// record is an skb of about 1 KiB, held only while kauditd lags behind.
const KernelAuditBacklog = 8192

// OpenKernelAudit turns the kernel's audit on (EnableKernelAudit) and joins its log
// group (ListenKernelAudit): what a supervisor or a lone run needs to show denials. The
// error says which of the two failed; on an error nothing stays held.
func OpenKernelAudit() (r *AuditReader, restore func() error, err error) {
	restore, err = EnableKernelAudit()
	if err != nil {
		return nil, nil, fmt.Errorf("turning the kernel's audit on: %w", err)
	}
	if r, err = ListenKernelAudit(); err != nil {
		restore()
		return nil, nil, fmt.Errorf("reading the kernel's audit log: %w", err)
	}
	return r, restore, nil
}

// EnableKernelAudit turns the kernel's audit on (audit_enabled 0 → 1) if it is off,
// since Landlock logs no denial while it is 0, and raises backlog_limit to
// KernelAuditBacklog if it is lower (0 is unlimited), both by one AUDIT_SET; it needs
// CAP_AUDIT_CONTROL. Both are host-wide: every process forked from then on gets a
// syscall audit context (a cost on each of its syscalls, even after restore, since
// audit_ever_enabled stays set), and with no auditd the records also go to the kernel
// log, rate-limited. When audit is locked (2) it is on already and nothing can be changed.
//
// Any number of confine processes may need audit at once: each is a holder under
// /run/confine/kernel-audit (kaudit_holders_linux.go) until it calls restore, or dies.
// The restore of the last live holder puts back what confine changed, where the kernel
// still holds what confine wrote; the others leave audit as it is. No call waits on
// another holder, only on the brief transition of another.
func EnableKernelAudit() (restore func() error, err error) {
	return hostAudit.enable()
}

// SweepKernelAudit removes the holders of confine processes that died (a SIGKILLed
// supervisor) and, when no live holder is left, puts back what confine changed, as the
// last holder's restore would have. `up`, `down` and `run` call it; without holders or
// a record it only reads a directory.
func SweepKernelAudit() error {
	return hostAudit.sweep()
}

// KernelAuditSettings are the audit settings confine may change.
type KernelAuditSettings struct {
	Enabled, BacklogLimit uint32
}

// KernelAuditView is what InspectKernelAudit saw, all at one transition.
type KernelAuditView struct {
	// Now is the kernel's status.
	Now KernelAuditSettings
	// Host is the status the host had before confine changed it: Now, with each
	// recorded setting replaced by the value confine found.
	Host KernelAuditSettings
	// Holders are the files of the holders, live or not yet swept; Legacy is set while
	// a supervisor of an older confine holds audit through its lock.
	Holders []string
	Legacy  bool
}

// InspectKernelAudit reports the kernel's audit settings, the host's own, and the
// holders, under the transition lock and without sweeping, for tests and diagnostics.
func InspectKernelAudit() (KernelAuditView, error) {
	h := hostAudit
	unlock, err := h.transition()
	if err != nil {
		return KernelAuditView{}, err
	}
	defer unlock()
	st, err := h.get()
	if err != nil {
		return KernelAuditView{}, err
	}
	saved, err := h.readState()
	if err != nil {
		return KernelAuditView{}, err
	}
	if data, err := os.ReadFile(h.legacy); err == nil {
		for k, c := range legacyRecord(data) {
			if _, ok := saved[k]; !ok {
				saved[k] = c // adopted at the next sweep
			}
		}
	}
	host := st
	for _, s := range auditSettings {
		if c, ok := saved[s.name]; ok {
			*s.field(&host) = c.Found
		}
	}
	v := KernelAuditView{
		Now:    KernelAuditSettings{st.Enabled, st.BacklogLimit},
		Host:   KernelAuditSettings{host.Enabled, host.BacklogLimit},
		Legacy: flockHeld(h.legacy),
	}
	entries, err := os.ReadDir(h.holdersDir())
	for _, e := range entries {
		v.Holders = append(v.Holders, e.Name())
	}
	return v, err
}

// getAuditStatus asks the kernel for struct audit_status on a socket of its own, apart
// from the reader's, whose receive queue holds the multicast records.
func getAuditStatus() (auditStatus, error) {
	conn, err := netlink.Dial(unix.NETLINK_AUDIT, nil)
	if err != nil {
		return auditStatus{}, fmt.Errorf("kaudit: %w", err)
	}
	defer conn.Close()
	msgs, err := conn.Execute(netlink.Message{Header: netlink.Header{Type: unix.AUDIT_GET, Flags: netlink.Request}})
	if err != nil {
		return auditStatus{}, fmt.Errorf("kaudit: AUDIT_GET: %w%s", err, auditHint(err))
	}
	var st auditStatus
	for _, m := range msgs {
		if m.Header.Type == unix.AUDIT_GET {
			// A kernel older than the struct sends fewer fields: the rest stay 0.
			b := make([]byte, binary.Size(st))
			copy(b, m.Data)
			_, err := binary.Decode(b, binary.NativeEndian, &st)
			return st, err
		}
	}
	return auditStatus{}, errors.New("kaudit: AUDIT_GET: no status in the reply")
}

// setAuditStatus sends AUDIT_SET with the fields st.Mask names.
func setAuditStatus(st auditStatus) error {
	conn, err := netlink.Dial(unix.NETLINK_AUDIT, nil)
	if err != nil {
		return fmt.Errorf("kaudit: %w", err)
	}
	defer conn.Close()
	data, err := binary.Append(nil, binary.NativeEndian, st)
	if err != nil {
		return err
	}
	_, err = conn.Execute(netlink.Message{Header: netlink.Header{Type: unix.AUDIT_SET, Flags: netlink.Request | netlink.Acknowledge}, Data: data})
	if err != nil {
		return fmt.Errorf("kaudit: AUDIT_SET: %w%s", err, auditHint(err))
	}
	return nil
}

// auditHint says why the kernel refuses an audit command (kernel/audit.c
// audit_netlink_ok): the capability, outside the initial user or pid namespace, or locked.
func auditHint(err error) string {
	switch {
	case errors.Is(err, unix.EPERM):
		return " (needs CAP_AUDIT_CONTROL in the initial pid namespace; AUDIT_SET also fails while audit is locked)"
	case errors.Is(err, unix.ECONNREFUSED):
		return " (the audit socket answers only the initial user namespace)"
	}
	return ""
}
