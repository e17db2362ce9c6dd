package sandbox

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// events assembles the records of multi-record events into denials. A seccomp record is
// an event by itself. A Landlock denial in a syscall context is an event of records that
// share its serial and arrive in this order (security/landlock/audit.c during the
// syscall, then kernel/auditsc.c audit_log_exit when it returns):
//
//	1423 LANDLOCK_ACCESS  domain=... blockers=... path=...   (one per denial)
//	1424 LANDLOCK_DOMAIN  status=allocated ... pid=...        (the domain's first logged denial only)
//	1300 SYSCALL          ... pid=... comm=... exe=...        (the process that was denied)
//	1327 PROCTITLE, then 1320 EOE
//
// The event is complete for us at SYSCALL; the reader's socket filter keeps PROCTITLE and
// EOE out, and an EOE that comes anyway ends an event whose SYSCALL record was lost.
// Records of other events, from other CPUs, may come in between. Without a syscall
// context there is no SYSCALL and no EOE, and each record has a serial of its own: the
// denial then leaves after eventWait.
type events struct {
	pending map[uint64]*event // by serial: Landlock events waiting for their EOE
	domains map[string]*domain
	// lost counts denials that domains reported in their deallocation record
	// (denials=N) beyond those that reached us, for domains whose creation we saw.
	lost uint64
}

type event struct {
	denials []KernelDenial
	syscall *auditRecord
	arrived time.Time
}

// domain is one Landlock domain seen in the log.
type domain struct {
	creator *auditRecord // status=allocated: pid, exe and comm of the restricting process
	seen    uint64       // ACCESS records that reached us
	// uid and gid are host ids of the domain's processes, -1 until a record names them.
	uid, gid int64
}

func newEvents() *events {
	return &events{pending: map[uint64]*event{}, domains: map[string]*domain{}}
}

// add takes one record, arrived at now, and returns the denials it completes.
func (e *events) add(rec auditRecord, now time.Time) []KernelDenial {
	switch rec.Type {
	case auditSeccomp:
		return []KernelDenial{seccompDenial(rec)}
	case auditLandlockAccess:
		ev := e.pending[rec.Serial]
		if ev == nil {
			ev = &event{arrived: now}
			e.pending[rec.Serial] = ev
		}
		d := landlockDenial(rec)
		ev.denials = append(ev.denials, d)
		e.domain(d.Domain).seen++
	case auditLandlockDomain:
		id := rec.Fields["domain"]
		switch rec.Fields["status"] {
		case "allocated":
			d := e.domain(id)
			d.creator = &rec
			d.learn(hostID(rec.Fields["uid"]), -1) // the record names no gid
		case "deallocated":
			return e.endDomain(id, rec.Fields["denials"])
		}
	case auditSyscall:
		// The last record of the event that a denial needs: audit_log_exit writes it
		// first, after everything the syscall logged.
		if ev := e.pending[rec.Serial]; ev != nil {
			ev.syscall = &rec
			delete(e.pending, rec.Serial)
			return e.finish(ev)
		}
	case auditEOE: // when the SYSCALL record was lost
		if ev := e.pending[rec.Serial]; ev != nil {
			delete(e.pending, rec.Serial)
			return e.finish(ev)
		}
	}
	return nil
}

func (e *events) domain(id string) *domain {
	d := e.domains[id]
	if d == nil {
		d = &domain{uid: -1, gid: -1}
		e.domains[id] = d
	}
	return d
}

// endDomain handles a domain's deallocation: its processes are gone, so every event of
// theirs has been sent; the ones still pending lack an EOE and leave now, before the
// domain's creator is forgotten.
func (e *events) endDomain(id, denials string) []KernelDenial {
	var out []KernelDenial
	for serial, ev := range e.pending {
		if ev.denials[0].Domain == id {
			delete(e.pending, serial)
			out = append(out, e.finish(ev)...)
		}
	}
	bySerial(out)
	if d := e.domains[id]; d != nil {
		if n, err := strconv.ParseUint(denials, 10, 64); err == nil && d.creator != nil && n > d.seen {
			e.lost += n - d.seen
		}
		delete(e.domains, id)
	}
	return out
}

// finish fills in the process of an event's denials.
func (e *events) finish(ev *event) []KernelDenial {
	for i := range ev.denials {
		d := &ev.denials[i]
		dom := e.domains[d.Domain]
		if sc := ev.syscall; sc != nil {
			d.Pid, d.Comm, d.Exe, d.Arch = atoi(sc.Fields["pid"]), sc.Fields["comm"], sc.Fields["exe"], sc.Fields["arch"]
			d.UID, d.GID = hostID(sc.Fields["uid"]), hostID(sc.Fields["gid"])
			if n, err := strconv.Atoi(sc.Fields["syscall"]); err == nil {
				d.Syscall = n
			}
			if dom != nil {
				dom.learn(d.UID, d.GID)
			}
		} else if dom != nil {
			if dom.creator != nil {
				c := dom.creator.Fields
				d.Pid, d.Comm, d.Exe = atoi(c["pid"]), c["comm"], c["exe"]
			}
			d.UID, d.GID = dom.uid, dom.gid
		}
	}
	return ev.denials
}

// expire returns the events that waited eventWait or longer by now.
func (e *events) expire(now time.Time) []KernelDenial {
	var out []KernelDenial
	for serial, ev := range e.pending {
		if now.Sub(ev.arrived) >= eventWait {
			delete(e.pending, serial)
			out = append(out, e.finish(ev)...)
		}
	}
	bySerial(out)
	return out
}

// bySerial puts denials taken from the pending map back in the kernel's order.
func bySerial(ds []KernelDenial) {
	slices.SortStableFunc(ds, func(a, b KernelDenial) int { return cmp.Compare(a.Serial, b.Serial) })
}

// deadline is when the oldest pending event expires, or zero when none is pending.
func (e *events) deadline() time.Time {
	var t time.Time
	for _, ev := range e.pending {
		if t.IsZero() || ev.arrived.Before(t) {
			t = ev.arrived
		}
	}
	if t.IsZero() {
		return t
	}
	return t.Add(eventWait)
}
