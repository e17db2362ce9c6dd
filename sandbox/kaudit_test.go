package sandbox

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Records as Linux 6.18 sent them to AUDIT_NLGRP_READLOG (the netlink payload; the kernel
// ends each with a NUL). The 183b60fa1 events come from a process (pid 10142) that
// restricted itself with log_new_exec_on, was denied a file creation, and then ran a
// child (pid 10148, after execve) that was denied a write and a connect.
const (
	recSeccomp     = "audit(1795444899.765:53): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=10084 comm=\"kprobe\" exe=\"/tmp/kprobe\" sig=0 arch=c000003e syscall=99 compat=0 ip=0x40bb4e code=0x50000\x00"
	recMakeReg     = "audit(1795444904.185:57): domain=183b60fa1 blockers=fs.make_reg path=\"/tmp\" dev=\"vda\" ino=246947"
	recDomain      = "audit(1795444904.185:57): domain=183b60fa1 status=allocated mode=enforcing pid=10142 uid=0 exe=\"/tmp/kprobe\" comm=\"kprobe\""
	recSyscall57   = "audit(1795444904.185:57): arch=c000003e syscall=257 success=no exit=-13 a0=ffffffffffffff9c a1=bc727758090 a2=80241 a3=1a4 items=0 ppid=10120 pid=10142 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"kprobe\" exe=\"/tmp/kprobe\" key=(null)"
	recEOE57       = "audit(1795444904.185:57): "
	recWriteFile   = "audit(1795444904.189:58): domain=183b60fa1 blockers=fs.write_file path=\"/tmp/kprobe-existing\" dev=\"vda\" ino=9977871"
	recSyscall58   = "audit(1795444904.189:58): arch=c000003e syscall=257 success=no exit=-13 a0=ffffffffffffff9c a1=10f17a2b2000 a2=80241 a3=1a4 items=0 ppid=10142 pid=10148 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"exe\" exe=\"/tmp/kprobe\" key=(null)"
	recConnect     = "audit(1795444904.193:60): domain=183b60fa1 blockers=net.connect_tcp daddr=127.0.0.1 dest=9"
	recConnect6    = "audit(1795444904.193:61): domain=183b60fa1 blockers=net.connect_tcp daddr=::1 dest=9"
	recDeallocated = "audit(1795444904.289:63): domain=183b60fa1 status=deallocated denials=5"
	// From a confine sandbox: O_CREAT|O_WRONLY on /proc/self/comm, two records in one event.
	recProcMakeReg   = "audit(1795445249.629:60086): domain=183b6100b blockers=fs.make_reg path=\"/proc/1\" dev=\"proc\" ino=6170733"
	recProcWriteFile = "audit(1795445249.629:60086): domain=183b6100b blockers=fs.write_file path=\"/proc/1/comm\" dev=\"proc\" ino=6170743"
)

func mustParse(t *testing.T, typ uint16, text string) auditRecord {
	t.Helper()
	rec, err := parseAuditRecord(typ, []byte(text))
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return rec
}

func TestParseAuditRecord(t *testing.T) {
	rec := mustParse(t, auditSeccomp, recSeccomp)
	if want := time.Unix(1795444899, 765e6); !rec.Time.Equal(want) || rec.Serial != 53 {
		t.Errorf("stamp: %v %d", rec.Time, rec.Serial)
	}
	d := seccompDenial(rec)
	want := KernelDenial{Time: rec.Time, Serial: 53, Layer: "seccomp", Pid: 10084, Comm: "kprobe", Exe: "/tmp/kprobe",
		Syscall: 99, Arch: "c000003e", Action: "errno", Raw: recSeccomp[:len(recSeccomp)-1]}
	if !equalDenial(d, want) {
		t.Errorf("seccomp:\n got %+v\nwant %+v", d, want)
	}
	for code, action := range map[string]string{"0x80000000": "kill_process", "0x0": "kill_thread", "0x30000": "trap",
		"0x7fc00000": "user_notif", "0x7ff00000": "trace", "0x7ffc0000": "log", "0x50001": "errno", "0x12340000": "12340000"} {
		rec.Fields["code"] = code
		if got := seccompDenial(rec).Action; got != action {
			t.Errorf("code=%s: action %q, want %q", code, got, action)
		}
	}

	// Untrusted strings come quoted, or in hex when they hold a space, a quote or a
	// control character (an abstract socket's leading NUL).
	rec = mustParse(t, auditLandlockAccess, `audit(1.001:2): domain=1a blockers=fs.read_file,fs.execute path=2F746D702F6120622E747874 dev="vda" ino=5`)
	d = landlockDenial(rec)
	if d.Path != "/tmp/a b.txt" || !slices.Equal(d.Blockers, []string{"fs.read_file", "fs.execute"}) || d.Syscall != -1 {
		t.Errorf("hex path: %+v", d)
	}
	rec = mustParse(t, auditLandlockAccess, `audit(1.001:2): domain=1a blockers=scope.abstract_unix_socket path=00666F6F`)
	if d := landlockDenial(rec); d.Path != "\x00foo" {
		t.Errorf("abstract socket: %q", d.Path)
	}
	rec = mustParse(t, auditLandlockAccess, `audit(1.001:2): domain=1a blockers=net.bind_tcp src=9090`)
	if d := landlockDenial(rec); d.Sport != 9090 || d.Saddr != "" {
		t.Errorf("bind: %+v", d)
	}
	if d := landlockDenial(mustParse(t, auditLandlockAccess, recConnect6)); d.Daddr != "::1" || d.Dport != 9 {
		t.Errorf("connect6: %+v", d)
	}
	if rec := mustParse(t, auditEOE, recEOE57); rec.Serial != 57 || len(rec.Fields) != 0 {
		t.Errorf("EOE: %+v", rec)
	}
	if rec := mustParse(t, auditEOE, "audit(1.001:7):"); rec.Serial != 7 {
		t.Errorf("EOE without the space: %+v", rec)
	}
	for _, bad := range []string{"", "audit(", "audit(1.1:2): x=1", "audit(x.001:2): a=b", "audit(1.001): a=b", "type=1326 msg=audit(1.001:2): a=b", `audit(1.001:2): comm="unterminated`} {
		if _, err := parseAuditRecord(auditSeccomp, []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestEventsAssembly feeds events the recorded Landlock events, with a seccomp record and
// another event's records in between, as records from other CPUs may come.
func TestEventsAssembly(t *testing.T) {
	e := newEvents()
	now := time.Now()
	var got []KernelDenial
	feed := func(typ uint16, text string) {
		got = append(got, e.add(mustParse(t, typ, text), now)...)
	}
	feed(auditLandlockAccess, recMakeReg)
	feed(auditLandlockDomain, recDomain)
	feed(auditLandlockAccess, recWriteFile) // the next event starts before this one ends
	feed(auditSeccomp, recSeccomp)
	if len(got) != 1 || got[0].Layer != "seccomp" {
		t.Fatalf("before a SYSCALL record: %+v", got)
	}
	feed(auditSyscall, recSyscall57)
	feed(auditEOE, recEOE57) // nothing left to end
	feed(auditSyscall, recSyscall58)
	if len(got) != 3 {
		t.Fatalf("after two events: %d denials", len(got))
	}
	for i, want := range []struct {
		pid        int
		comm, path string
	}{{10142, "kprobe", "/tmp"}, {10148, "exe", "/tmp/kprobe-existing"}} {
		// The SYSCALL record names the process that was denied: the child after exec
		// for the second, not the domain's creator.
		d := got[1+i]
		if d.Pid != want.pid || d.Comm != want.comm || d.Path != want.path || d.Syscall != 257 || d.Arch != "c000003e" || d.Domain != "183b60fa1" {
			t.Errorf("denial %d: %+v", i, d)
		}
	}
	// Two records of one event, one SYSCALL record for both.
	feed(auditLandlockAccess, recProcMakeReg)
	feed(auditLandlockAccess, recProcWriteFile)
	feed(auditSyscall, strings.Replace(recSyscall58, ":58)", ":60086)", 1))
	if len(got) != 5 || got[3].Path != "/proc/1" || got[4].Path != "/proc/1/comm" || got[4].Pid != 10148 {
		t.Fatalf("two records in one event: %+v", got[3:])
	}
	// The connect's event never ends here (no SYSCALL, no EOE): it leaves after
	// eventWait, with the domain creator's pid.
	feed(auditLandlockAccess, recConnect)
	if ds := e.expire(now.Add(eventWait / 2)); len(ds) != 0 {
		t.Errorf("expired early: %+v", ds)
	}
	if dl := e.deadline(); !dl.Equal(now.Add(eventWait)) {
		t.Errorf("deadline %v, want %v", dl, now.Add(eventWait))
	}
	ds := e.expire(now.Add(eventWait))
	if len(ds) != 1 || ds[0].Pid != 10142 || ds[0].Dport != 9 || ds[0].Syscall != -1 {
		t.Errorf("expired: %+v", ds)
	}
	if !e.deadline().IsZero() {
		t.Error("a deadline with nothing pending")
	}
	// The domain counted 5 denials; 3 of its records reached us (the connect6 did not).
	feed(auditLandlockDomain, recDeallocated)
	if e.lost != 2 || e.domains["183b60fa1"] != nil {
		t.Errorf("lost %d, domains %v", e.lost, e.domains)
	}
}

// TestEventsDomainEnd: a domain's end sends the events still waiting for their end, and
// a domain whose creation was not seen counts no loss.
func TestEventsDomainEnd(t *testing.T) {
	e := newEvents()
	now := time.Now()
	e.add(mustParse(t, auditLandlockAccess, recConnect), now)
	ds := e.add(mustParse(t, auditLandlockDomain, recDeallocated), now)
	if len(ds) != 1 || ds[0].Pid != 0 || ds[0].Daddr != "127.0.0.1" {
		t.Errorf("%+v", ds)
	}
	if e.lost != 0 || len(e.pending) != 0 {
		t.Errorf("lost %d, pending %d", e.lost, len(e.pending))
	}
	// Records of events without a Landlock denial pass through without a trace.
	for _, typ := range []uint16{auditSyscall, auditEOE} {
		if ds := e.add(mustParse(t, typ, recSyscall57), now); len(ds) != 0 || len(e.pending) != 0 {
			t.Errorf("type %d: %+v", typ, ds)
		}
	}
}

func equalDenial(a, b KernelDenial) bool {
	return a.Time.Equal(b.Time) && a.Serial == b.Serial && a.Layer == b.Layer && a.Pid == b.Pid && a.Comm == b.Comm &&
		a.Exe == b.Exe && a.Syscall == b.Syscall && a.Arch == b.Arch && a.Action == b.Action && a.Domain == b.Domain &&
		slices.Equal(a.Blockers, b.Blockers) && a.Path == b.Path && a.Daddr == b.Daddr && a.Dport == b.Dport && a.Raw == b.Raw
}

// FuzzParseAuditRecord: no input makes the parser, or the assembly behind it, panic.
func FuzzParseAuditRecord(f *testing.F) {
	for _, s := range []string{recSeccomp, recMakeReg, recDomain, recSyscall58, recEOE57, recConnect6, recDeallocated,
		`audit(1.001:2): domain=1a blockers=scope.abstract_unix_socket path=00666F6F`, `audit(1.001:2): a='b c' d="e`} {
		f.Add(uint16(auditLandlockAccess), s)
	}
	f.Fuzz(func(t *testing.T, typ uint16, s string) {
		e := newEvents()
		for _, typ := range []uint16{typ, auditSeccomp, auditLandlockAccess, auditLandlockDomain, auditSyscall, auditEOE} {
			rec, err := parseAuditRecord(typ, []byte(s))
			if err != nil {
				continue
			}
			e.add(rec, time.Time{})
		}
		e.expire(time.Now())
	})
}
