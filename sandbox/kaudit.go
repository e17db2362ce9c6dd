package sandbox

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The audit record types ListenKernelAudit reads (include/uapi/linux/audit.h); the
// constants of golang.org/x/sys/unix exist only on Linux, and the parser is pure.
const (
	auditSyscall        = 1300 // AUDIT_SYSCALL: the syscall that an event happened in
	auditEOE            = 1320 // AUDIT_EOE: ends a multi-record event (one with a syscall context)
	auditSeccomp        = 1326 // AUDIT_SECCOMP: one seccomp action, a whole event by itself
	auditLandlockAccess = 1423 // AUDIT_LANDLOCK_ACCESS: one denied access
	auditLandlockDomain = 1424 // AUDIT_LANDLOCK_DOMAIN: a domain's creator, or its end
)

// eventWait is how long a Landlock denial waits for its event's SYSCALL record, which
// names the process, before it is delivered without it. The kernel writes that record
// when the syscall returns, at once for the denials Landlock reports; a process with no
// syscall audit context (forked before audit was ever enabled) sends none at all.
const eventWait = time.Second

// KernelDenial is one denial the kernel logged for a sandboxed process. Which fields are
// set depends on Layer; Raw keeps the whole record.
type KernelDenial struct {
	// Time is the kernel's timestamp (millisecond resolution); Serial numbers the
	// event, and the records of one event share it.
	Time   time.Time
	Serial uint64
	// Layer is "seccomp" or "landlock" (audit.LayerSeccomp, audit.LayerLandlock).
	Layer string
	// Pid is the denied process in the host's pid namespace. Landlock records carry
	// none: it comes from the event's SYSCALL record, or failing that from the record
	// of the domain's creation (for confine the init stage, which became the
	// component); 0 when neither reached the reader.
	Pid       int
	Comm, Exe string
	// UID and GID are the process's real ids in the host's user namespace (-1 when no
	// record of the event named them): from the SECCOMP or SYSCALL record, or for a
	// Landlock record without one, from its domain (kaudit_ids.go). As root each
	// component owns a range of host ids, so they name the component whoever in it
	// made the call, however briefly it lived.
	UID, GID int64
	// Syscall is the syscall's number for Arch (AUDIT_ARCH_* in hex, "c000003e" for
	// x86_64); for Landlock it comes from the SYSCALL record, -1 without one.
	Syscall int
	Arch    string
	// Action is the seccomp action: kill_process, kill_thread, trap, errno, user_notif,
	// trace or log; the errno value itself is not logged.
	Action string
	// Domain is the Landlock domain's id (hex), Blockers the rights that were missing
	// (fs.write_file, fs.make_reg, net.connect_tcp, scope.signal, ...).
	Domain   string
	Blockers []string
	// Path is the object of a filesystem denial: the file, or for a creation the
	// directory it would go in (fs.make_reg on "/tmp"). Daddr and Dport are a refused
	// connect's destination, Saddr and Sport a refused bind's address; an address is
	// "" when the kernel left it out (0.0.0.0 or ::).
	Path         string
	Daddr, Saddr string
	Dport, Sport int
	// Raw is the denial record's text as the kernel sent it.
	Raw string
	// Lost counts records the reader's socket dropped (receive buffer full) and that
	// no earlier denial reported. What they were is gone; they may be newer than this
	// denial.
	Lost uint64
}

// AuditLoss counts what never reached an AuditReader since ListenKernelAudit.
type AuditLoss struct {
	// Socket counts records the kernel dropped at the reader's full receive buffer.
	Socket uint64
	// Kernel is how much the kernel's own lost counter grew (audit_log_lost: the
	// backlog_limit queue overflowed for a record that could not wait, such as every
	// Landlock record, or the rate limit): host-wide, every audit producer's records.
	Kernel uint64
	// Landlock counts denials that Landlock domains counted (denials=N in their
	// deallocation record) beyond the records that reached the reader, for domains
	// whose creation record it saw.
	Landlock uint64
}

// auditRecord is one parsed record: "audit(SEC.MSEC:SERIAL): key=value ...".
type auditRecord struct {
	Type   uint16
	Time   time.Time
	Serial uint64
	Fields map[string]string // values unquoted, untrusted strings decoded from hex
	Raw    string
}

// untrusted are the fields the kernel writes with audit_log_untrustedstring: quoted
// when plain, otherwise as hex with no quotes.
var untrusted = map[string]bool{"comm": true, "exe": true, "path": true, "name": true, "ocomm": true, "cwd": true}

// parseAuditRecord parses the text of one record of type typ. It never panics on any
// input, which FuzzParseAuditRecord checks.
func parseAuditRecord(typ uint16, data []byte) (auditRecord, error) {
	text := strings.TrimRight(string(data), "\x00\n")
	rec := auditRecord{Type: typ, Raw: text, Fields: map[string]string{}}
	stamp, rest, ok := strings.Cut(text, "): ")
	if !ok {
		stamp, ok = strings.CutSuffix(text, "):") // AUDIT_EOE carries no fields
		if !ok {
			return rec, errors.New("no audit(...): stamp")
		}
	}
	stamp, ok = strings.CutPrefix(stamp, "audit(")
	if !ok {
		return rec, errors.New("no audit(...): stamp")
	}
	secs, serial, ok := strings.Cut(stamp, ":")
	sec, msec, _ := strings.Cut(secs, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	ms, err2 := strconv.ParseInt(msec, 10, 64)
	n, err3 := strconv.ParseUint(serial, 10, 64)
	if !ok || err1 != nil || err2 != nil || err3 != nil || len(msec) != 3 {
		return rec, errors.New("malformed audit(SEC.MSEC:SERIAL) stamp")
	}
	rec.Time, rec.Serial = time.Unix(s, ms*int64(time.Millisecond)), n
	for rest != "" {
		rest = strings.TrimLeft(rest, " ")
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			break // a trailing word without "=": nothing of ours follows
		}
		var val string
		if after != "" && (after[0] == '"' || after[0] == '\'') {
			end := strings.IndexByte(after[1:], after[0])
			if end < 0 {
				return rec, errors.New("unterminated quote in " + key)
			}
			val, rest = after[1:1+end], after[2+end:]
		} else {
			val, rest, _ = strings.Cut(after, " ")
			if untrusted[key] && len(val)%2 == 0 {
				if b, err := hex.DecodeString(val); err == nil && len(b) > 0 {
					val = string(b)
				}
			}
		}
		rec.Fields[key] = val
	}
	return rec, nil
}

// seccompActions names SECCOMP_RET_ACTION_FULL (code & 0xffff0000) of an AUDIT_SECCOMP
// record's code field; 0x7fff0000 would fold kill_process (0x80000000) into kill_thread (0).
var seccompActions = map[uint64]string{
	0x80000000: "kill_process", 0x00000000: "kill_thread", 0x00030000: "trap", 0x00050000: "errno",
	0x7fc00000: "user_notif", 0x7ff00000: "trace", 0x7ffc0000: "log", 0x7fff0000: "allow",
}

// seccompDenial reads an AUDIT_SECCOMP record, which holds everything itself: it is
// written before syscall entry, outside any syscall context, so no SYSCALL record and
// no AUDIT_EOE share its serial.
func seccompDenial(rec auditRecord) KernelDenial {
	f := rec.Fields
	d := KernelDenial{Time: rec.Time, Serial: rec.Serial, Layer: "seccomp", Raw: rec.Raw,
		Pid: atoi(f["pid"]), Comm: f["comm"], Exe: f["exe"], Syscall: atoi(f["syscall"]), Arch: f["arch"],
		UID: hostID(f["uid"]), GID: hostID(f["gid"])}
	if code, err := strconv.ParseUint(f["code"], 0, 32); err == nil {
		d.Action = seccompActions[code&0xffff0000]
		if d.Action == "" {
			d.Action = strconv.FormatUint(code&0xffff0000, 16)
		}
	}
	return d
}

// landlockDenial reads an AUDIT_LANDLOCK_ACCESS record; the process is filled in later.
func landlockDenial(rec auditRecord) KernelDenial {
	f := rec.Fields
	d := KernelDenial{Time: rec.Time, Serial: rec.Serial, Layer: "landlock", Raw: rec.Raw, Syscall: -1, UID: -1, GID: -1,
		Domain: f["domain"], Path: f["path"], Daddr: f["daddr"], Saddr: f["saddr"],
		Dport: atoi(f["dest"]), Sport: atoi(f["src"])}
	if d.Path == "" {
		d.Path = f["name"] // LSM_AUDIT_DATA_DENTRY, as for a removal
	}
	if b := f["blockers"]; b != "" {
		d.Blockers = strings.Split(b, ",")
	}
	return d
}

// atoi is strconv.Atoi with 0 for anything else, for fields the kernel always writes as
// decimal.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
