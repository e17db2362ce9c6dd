package sandbox

import (
	"strings"
	"testing"
	"time"
)

// TestKernelDenialIDs: every denial carries the host ids that name its component: a
// seccomp record's own, a Landlock event's SYSCALL record's, and for a Landlock record
// without one, its domain's, learnt from the allocation record or an earlier event.
func TestKernelDenialIDs(t *testing.T) {
	const uid, gid = "1879113728", "1879113729"
	withIDs := func(rec string) string {
		return strings.NewReplacer(" uid=0", " uid="+uid, " gid=0", " gid="+gid).Replace(rec)
	}
	d := seccompDenial(mustParse(t, auditSeccomp, withIDs(recSeccomp)))
	if d.UID != 1879113728 || d.GID != 1879113729 {
		t.Errorf("seccomp: uid %d gid %d", d.UID, d.GID)
	}
	if d := seccompDenial(mustParse(t, auditSeccomp, strings.Replace(recSeccomp, " uid=0 gid=0", "", 1))); d.UID != -1 || d.GID != -1 {
		t.Errorf("seccomp without ids: uid %d gid %d", d.UID, d.GID)
	}

	now := time.Now()
	// The allocation record names the creator's uid, no gid.
	e := newEvents()
	e.add(mustParse(t, auditLandlockAccess, recConnect), now)
	e.add(mustParse(t, auditLandlockDomain, withIDs(recDomain)), now)
	ds := e.expire(now.Add(eventWait))
	if len(ds) != 1 || ds[0].UID != 1879113728 || ds[0].GID != -1 {
		t.Errorf("from the allocation record: %+v", ds)
	}
	// A SYSCALL record names both, and the domain keeps them for a later record
	// that comes without one.
	e = newEvents()
	e.add(mustParse(t, auditLandlockAccess, recWriteFile), now)
	ds = e.add(mustParse(t, auditSyscall, withIDs(recSyscall58)), now)
	if len(ds) != 1 || ds[0].UID != 1879113728 || ds[0].GID != 1879113729 {
		t.Errorf("from the SYSCALL record: %+v", ds)
	}
	e.add(mustParse(t, auditLandlockAccess, recConnect), now)
	ds = e.expire(now.Add(eventWait))
	if len(ds) != 1 || ds[0].UID != 1879113728 || ds[0].GID != 1879113729 || ds[0].Pid != 0 {
		t.Errorf("from the domain: %+v", ds)
	}
	// Nothing seen of a domain: no ids.
	e = newEvents()
	e.add(mustParse(t, auditLandlockAccess, recConnect), now)
	if ds := e.expire(now.Add(eventWait)); len(ds) != 1 || ds[0].UID != -1 || ds[0].GID != -1 {
		t.Errorf("unknown domain: %+v", ds)
	}
	if hostID("4294967295") != -1 || hostID("") != -1 || hostID("x") != -1 || hostID("0") != 0 {
		t.Error("hostID")
	}
}
