package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Confine before holders (kaudit_holders_linux.go) kept the kernel's audit under one lock,
// which each supervisor held shared for its life, holding the state it found. While such a
// supervisor runs it counts as a live holder; what a killed one left is adopted.

// legacyAuditLock is the lock confine held shared for a supervisor's life before
// holders: while an older supervisor holds it, it needs audit as it is.
const legacyAuditLock = "/run/confine/kernel-audit.lock"

// legacyRecord parses what an older confine recorded in legacyAuditLock before its
// AUDIT_SET: "MASK ENABLED BACKLOG_LIMIT", the mask naming what it changed, the two
// values as it found them; it wrote 1 and KernelAuditBacklog. Empty when nothing is due.
func legacyRecord(data []byte) auditState {
	var mask, enabled, backlog uint32
	if n, _ := fmt.Sscan(string(data), &mask, &enabled, &backlog); n != 3 {
		return nil
	}
	st := auditState{}
	if mask&unix.AUDIT_STATUS_ENABLED != 0 {
		st["enabled"] = auditChange{Found: enabled, Wrote: 1}
	}
	if mask&unix.AUDIT_STATUS_BACKLOG_LIMIT != 0 {
		st["backlog_limit"] = auditChange{Found: backlog, Wrote: KernelAuditBacklog}
	}
	return st
}

// adoptLegacy takes over the record an older supervisor left when it was killed, so that
// it is put back as confine's own changes are. The lock is taken without waiting, and
// only when no one holds it: an older supervisor that comes next finds the record gone.
func (h *auditHolders) adoptLegacy() error {
	f, err := os.OpenFile(h.legacy, os.O_RDWR, 0)
	if err != nil {
		return nil // none, ever
	}
	defer f.Close()
	if flock(f, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return nil // an older supervisor is in its transition: it keeps its record
	}
	data, _ := os.ReadFile(h.legacy)
	old := legacyRecord(data)
	if len(old) == 0 {
		return nil
	}
	saved, err := h.readState()
	if err != nil {
		return err
	}
	for k, v := range old {
		if _, ok := saved[k]; !ok {
			saved[k] = v
		}
	}
	if err := h.writeState(saved); err != nil {
		return err
	}
	return f.Truncate(0)
}

// flockHeld reports whether any process holds a flock(2) lock on path, as /proc/locks
// lists them (MAJOR:MINOR:INODE, the numbers in hex, hex, decimal), without taking one:
// a probe by LOCK_EX|LOCK_NB would make an older supervisor's release think another still
// needs audit.
func flockHeld(path string) bool {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return false
	}
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	id := fmt.Sprintf("%02x:%02x:%s", unix.Major(st.Dev), unix.Minor(st.Dev), strconv.FormatUint(st.Ino, 10))
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		// 1: FLOCK  ADVISORY  READ  1234 00:19:5678 0 EOF; a waiter's line has "->" first.
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == id {
			return true
		}
	}
	return false
}
