package observe

import (
	"reflect"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

var handled = []string{"execute", "make_dir", "make_reg", "make_sock", "make_sym", "read_dir", "read_file", "refer", "remove_dir", "remove_file", "truncate", "write_file"}

var rules = plan.Landlock{
	HandledFS: handled,
	Paths: []plan.PathRule{
		{Path: "/app", Access: []string{"execute", "read_dir", "read_file"}},
		{Path: "/data", Access: handled},
		{Path: "/etc/hosts", Access: []string{"read_file"}},
	},
	HandledNet: []string{"bind_tcp", "connect_tcp"},
	BindTCP:    []uint16{8080},
	ConnectTCP: []uint16{5432, 8080},
}

func TestAccessesAndMissingRights(t *testing.T) {
	for _, tc := range []struct {
		name    string
		call    Call
		open    int
		want    []Access
		missing [][]string // per access
	}{
		{"read declared", Call{Syscall: "openat", Paths: []string{"/app/bin"}, Kinds: []FileKind{File}}, OpenRead,
			[]Access{{Path: "/app/bin", Access: "read", Rights: []string{"read_file"}}}, [][]string{nil}},
		{"write a read path", Call{Syscall: "openat", Paths: []string{"/app/x"}, Kinds: []FileKind{File}}, OpenWrite | OpenTrunc,
			[]Access{{Path: "/app/x", Access: "write", Rights: []string{"write_file", "truncate"}}}, [][]string{{"write_file", "truncate"}}},
		{"create in a write path", Call{Syscall: "openat", Paths: []string{"/data/new"}, Kinds: []FileKind{Missing}}, OpenWrite | OpenCreate,
			[]Access{{Path: "/data", Target: "/data/new", Access: "create", Rights: []string{"make_reg"}}, {Path: "/data/new", Access: "write", Rights: []string{"write_file"}}},
			[][]string{nil, nil}},
		{"O_CREAT on an existing file creates nothing", Call{Syscall: "open", Paths: []string{"/data/old"}, Kinds: []FileKind{File}}, OpenWrite | OpenCreate,
			[]Access{{Path: "/data/old", Access: "write", Rights: []string{"write_file"}}}, [][]string{nil}},
		{"list a directory", Call{Syscall: "openat", Paths: []string{"/etc"}, Kinds: []FileKind{Dir}}, OpenRead,
			[]Access{{Path: "/etc", Access: "list", Rights: []string{"read_dir"}}}, [][]string{{"read_dir"}}},
		{"a file rule is not its parent's", Call{Syscall: "openat", Paths: []string{"/etc/hostsfoo"}, Kinds: []FileKind{File}}, OpenRead,
			[]Access{{Path: "/etc/hostsfoo", Access: "read", Rights: []string{"read_file"}}}, [][]string{{"read_file"}}},
		{"a missing file is no access", Call{Syscall: "openat", Paths: []string{"/sys/x"}, Kinds: []FileKind{Missing}}, OpenRead, nil, nil},
		{"exec of a missing file", Call{Syscall: "execve", Paths: []string{"/bin/nope"}, Kinds: []FileKind{Missing}}, 0, nil, nil},
		{"unlink of a missing file", Call{Syscall: "unlink", Paths: []string{"/data/gone"}, Kinds: []FileKind{Missing}}, 0, nil, nil},
		{"O_PATH checks nothing", Call{Syscall: "openat", Paths: []string{"/etc"}}, OpenRead | OpenPath, nil, nil},
		{"exec", Call{Syscall: "execve", Paths: []string{"/usr/bin/sh"}, Kinds: []FileKind{File}}, 0,
			[]Access{{Path: "/usr/bin/sh", Access: "exec", Rights: []string{"execute"}}}, [][]string{{"execute"}}},
		{"mkdir", Call{Syscall: "mkdirat", Paths: []string{"/app/cache"}}, 0,
			[]Access{{Path: "/app", Target: "/app/cache", Access: "create", Rights: []string{"make_dir"}}}, [][]string{{"make_dir"}}},
		{"rmdir by unlinkat", Call{Syscall: "unlinkat", Args: [6]uint64{2: atRemoveDir}, Paths: []string{"/data/d"}, Kinds: []FileKind{Dir}}, 0,
			[]Access{{Path: "/data", Target: "/data/d", Access: "remove", Rights: []string{"remove_dir"}}}, [][]string{nil}},
		{"mknod a fifo", Call{Syscall: "mknod", Args: [6]uint64{1: sIFIFO | 0o644}, Paths: []string{"/app/f"}}, 0,
			[]Access{{Path: "/app", Target: "/app/f", Access: "create", Rights: []string{"make_fifo"}}}, [][]string{nil}}, // make_fifo not handled here
		{"rename across directories", Call{Syscall: "renameat2", Paths: []string{"/data/a", "/app/a"}, Kinds: []FileKind{File, Missing}}, 0,
			[]Access{{Path: "/data", Target: "/data/a", Access: "remove", Rights: []string{"remove_file", "refer"}}, {Path: "/app", Target: "/app/a", Access: "create", Rights: []string{"make_reg", "refer"}}},
			[][]string{nil, {"make_reg", "refer"}}},
		{"bind a unix socket", Call{Syscall: "bind", Sock: &Sock{Family: "unix", Path: "/run/s.sock"}}, 0,
			[]Access{{Path: "/run", Target: "/run/s.sock", Access: "create", Rights: []string{"make_sock"}}}, [][]string{{"make_sock"}}},
		{"chown is no file access", Call{Syscall: "chown", Paths: []string{"/data/x"}}, 0, nil, nil},
	} {
		got := Accesses(tc.call, tc.open)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Accesses\n got %+v\nwant %+v", tc.name, got, tc.want)
			continue
		}
		for i, a := range got {
			if m := MissingRights(rules, a); !reflect.DeepEqual(m, tc.missing[i]) {
				t.Errorf("%s: MissingRights(%+v) = %v, want %v", tc.name, a, m, tc.missing[i])
			}
		}
	}
}

func TestPortDenied(t *testing.T) {
	tcp := func(sc string, port uint16, proto string) Call {
		return Call{Syscall: sc, Sock: &Sock{Family: "inet", Proto: proto, Addr: "127.0.0.1", Port: port}}
	}
	for _, tc := range []struct {
		call Call
		want bool
	}{
		{tcp("bind", 8080, "tcp"), false}, {tcp("bind", 9000, "tcp"), true}, {tcp("bind", 0, "tcp"), true},
		{tcp("connect", 5432, "tcp"), false}, {tcp("connect", 9, "tcp"), true}, {tcp("connect", 9, "mptcp"), true},
		{tcp("connect", 9, "udp"), false}, // nftables' to judge
		{Call{Syscall: "connect", Sock: &Sock{Family: "unix", Path: "/x"}}, false},
		{Call{Syscall: "connect"}, false},
	} {
		if got := PortDenied(rules, tc.call); got != tc.want {
			t.Errorf("PortDenied(%s %+v) = %v, want %v", tc.call.Syscall, tc.call.Sock, got, tc.want)
		}
	}
	unhandled := plan.Landlock{}
	if PortDenied(unhandled, tcp("connect", 9, "tcp")) {
		t.Error("a right Landlock does not handle is denied")
	}
}

func TestCapabilityUsed(t *testing.T) {
	ids := &Creds{UID: [3]uint32{1000, 1000, 1000}, GID: [3]uint32{1000, 1000, 1000}, Groups: []uint32{27}}
	minus1 := uint64(0xffffffff)
	for _, tc := range []struct {
		name  string
		call  Call
		start int
		want  string
	}{
		{"bind 80", Call{Syscall: "bind", Sock: &Sock{Family: "inet", Proto: "tcp", Addr: "0.0.0.0", Port: 80}}, 1024, "CAP_NET_BIND_SERVICE"},
		{"bind 80, unprivileged from 0", Call{Syscall: "bind", Sock: &Sock{Family: "inet", Proto: "tcp", Port: 80}}, 0, ""},
		{"bind 8080", Call{Syscall: "bind", Sock: &Sock{Family: "inet", Proto: "tcp", Port: 8080}}, 1024, ""},
		{"setuid to another", Call{Syscall: "setuid", Args: [6]uint64{0}, IDs: ids}, 1024, "CAP_SETUID"},
		{"setuid to itself", Call{Syscall: "setuid", Args: [6]uint64{1000}, IDs: ids}, 1024, ""},
		{"setresgid keeping", Call{Syscall: "setresgid", Args: [6]uint64{minus1, 1000, minus1}, IDs: ids}, 1024, ""},
		{"setresgid to root", Call{Syscall: "setresgid", Args: [6]uint64{minus1, 0, minus1}, IDs: ids}, 1024, "CAP_SETGID"},
		{"setgroups", Call{Syscall: "setgroups"}, 1024, "CAP_SETGID"},
		{"chown to root", Call{Syscall: "chown", Args: [6]uint64{0, 0, 0}, IDs: ids, Owner: &[2]int64{1000, 1000}}, 1024, "CAP_CHOWN"},
		{"chgrp to own group", Call{Syscall: "fchownat", Args: [6]uint64{0, 0, minus1, 27}, IDs: ids, Owner: &[2]int64{1000, 1000}}, 1024, ""},
		{"chgrp to another", Call{Syscall: "fchown", Args: [6]uint64{3, minus1, 5}, IDs: ids, Owner: &[2]int64{1000, 1000}}, 1024, "CAP_CHOWN"},
		{"chown unread", Call{Syscall: "chown", Args: [6]uint64{0, 0, 0}}, 1024, ""},
	} {
		got := CapabilityUsed(tc.call, tc.start)
		if name := capName(got); name != tc.want {
			t.Errorf("%s: CapabilityUsed = %+v, want %q", tc.name, got, tc.want)
		}
	}
	caps := plan.Capabilities{Permitted: []string{"CHOWN"}}
	if !CapDeclared(caps, "CAP_CHOWN") || CapDeclared(caps, "CAP_SETUID") {
		t.Error("CapDeclared")
	}
	c := &plan.Component{Sysctls: []plan.Sysctl{{Key: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}}
	if UnprivilegedPortStart(c) != 0 || UnprivilegedPortStart(&plan.Component{}) != 1024 {
		t.Error("UnprivilegedPortStart")
	}
}

func capName(u *CapUse) string {
	if u == nil {
		return ""
	}
	return u.Capability
}

func TestResolve(t *testing.T) {
	for _, tc := range [][3]string{
		{"/work", "a/../b", "/work/b"}, {"/work", "/etc//x", "/etc/x"}, {"/work/d", "", "/work/d"}, {"/", "../../x", "/x"},
	} {
		if got := Resolve(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Resolve(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
	if PathArgs("renameat2")[1] != (PathArg{2, 3}) || PathArgs("read") != nil {
		t.Error("PathArgs")
	}
}
