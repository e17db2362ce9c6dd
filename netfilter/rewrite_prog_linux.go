package netfilter

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The connect-time rewrite of published loopback ports (rewrite_linux.go), two cgroup
// sock_addr programs written with cilium/ebpf's asm (no clang), as Cilium's socket-level
// load balancer serves host-reachable services.
//
// Offsets in struct bpf_sock_addr (include/uapi/linux/bpf.h): every field is a __u32;
// the address and port are in network byte order, the port in the low 16 bits.
const (
	offFamily = 0  // user_family
	offIP4    = 4  // user_ip4
	offPort   = 24 // user_port
	offType   = 32 // type (SOCK_STREAM, ...)
	offProto  = 36 // protocol
	offSk     = 64 // sk, a struct bpf_sock pointer
)

// Offsets in struct bpf_sock.
const (
	offSkBoundDev = 0  // bound_dev_if (SO_BINDTODEVICE)
	offSkSrcIP4   = 24 // src_ip4, the address bind() gave the socket, 0 if none
)

// rewriteKey is a ports map key: the namespace's cookie (bpf_get_netns_cookie), so only
// sockets of the supervisor's own network namespace match, then the address and port
// the client dialed, as the context holds them. rewriteValue is where it goes instead.
type rewriteKey struct {
	Cookie uint64
	IP     [4]byte
	Port   [2]byte // big-endian
	_      [2]byte
}

type rewriteValue struct {
	IP   [4]byte
	Port [2]byte // big-endian
	_    [2]byte
}

// reverseEntries bounds the sockets whose dialed address getpeername gives back: an LRU
// map keyed by socket cookie (never reused), so the oldest rewritten sockets lose it
// first (docs/network.md, "Published ports").
const reverseEntries = 16384

func newRewriteMaps(entries int) (ports, reverse *ebpf.Map, err error) {
	ports, err = ebpf.NewMap(&ebpf.MapSpec{Name: "confine_pub", Type: ebpf.Hash, KeySize: 16, ValueSize: 8, MaxEntries: uint32(max(entries, 1))})
	if err != nil {
		return nil, nil, err
	}
	reverse, err = ebpf.NewMap(&ebpf.MapSpec{Name: "confine_pubrev", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: reverseEntries})
	if err != nil {
		ports.Close()
		return nil, nil, err
	}
	return ports, reverse, nil
}

// connectProgram rewrites an AF_INET TCP connect() whose (netns cookie, address,
// port) is in ports to the value's address and port, and remembers what was dialed in
// reverse under the socket's cookie. Every connect returns 1 (allowed): the program
// only redirects; the firewall on the way decides. A socket bound to an address or a
// device is left alone, to the proxy that still listens on the loopback: from
// 127.0.0.1 (or bound to lo) it could not leave by the uplink (EINVAL), and from
// another address it would reach the component as that address, not as the host.
func connectProgram(ports, reverse *ebpf.Map) *ebpf.ProgramSpec {
	return sockAddrSpec("confine_conn4", ebpf.AttachCGroupInet4Connect, asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, offFamily, asm.Word),
		asm.JNE.Imm(asm.R2, unix.AF_INET, "allow"),
		asm.LoadMem(asm.R2, asm.R6, offType, asm.Word),
		asm.JNE.Imm(asm.R2, unix.SOCK_STREAM, "allow"),
		asm.LoadMem(asm.R2, asm.R6, offProto, asm.Word),
		asm.JNE.Imm(asm.R2, unix.IPPROTO_TCP, "allow"), // not SCTP's SOCK_STREAM
		asm.LoadMem(asm.R2, asm.R6, offSk, asm.DWord),
		asm.JEq.Imm(asm.R2, 0, "allow"),
		asm.LoadMem(asm.R3, asm.R2, offSkSrcIP4, asm.Word),
		asm.JNE.Imm(asm.R3, 0, "allow"),
		asm.LoadMem(asm.R3, asm.R2, offSkBoundDev, asm.Word),
		asm.JNE.Imm(asm.R3, 0, "allow"),
		// key at fp-16: cookie, address, port (16 bits, as the socket's address holds
		// them: the context's 32-bit field has them in its low half, so a 16-bit
		// store, the same bytes on either byte order), then zeros
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnGetNetnsCookie.Call(),
		asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R6, offIP4, asm.Word),
		asm.StoreMem(asm.RFP, -8, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, offPort, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R2, asm.Half),
		asm.StoreImm(asm.RFP, -2, 0, asm.Half),
		asm.LoadMapPtr(asm.R1, ports.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "allow"),
		asm.Mov.Reg(asm.R7, asm.R0),
		// reverse[socket cookie] = what was dialed (fp-8: address and port, still there)
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, reverse.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -24),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		// the rewrite itself (the port loaded as 16 bits, for the context's low half)
		asm.LoadMem(asm.R2, asm.R7, 0, asm.Word),
		asm.StoreMem(asm.R6, offIP4, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R7, 4, asm.Half),
		asm.StoreMem(asm.R6, offPort, asm.R2, asm.Word),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("allow"),
		asm.Return(),
	})
}

// getpeernameProgram gives a rewritten socket's getpeername(2) the address and port
// its client dialed, from reverse.
func getpeernameProgram(reverse *ebpf.Map) *ebpf.ProgramSpec {
	insns := append(asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}, bySocketCookie(reverse, "allow")...)
	return sockAddrSpec("confine_peer4", ebpf.AttachCgroupInet4GetPeername, append(insns,
		asm.LoadMem(asm.R2, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.R6, offIP4, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R0, 4, asm.Half),
		asm.StoreMem(asm.R6, offPort, asm.R2, asm.Word),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("allow"),
		asm.Return(),
	))
}

// bySocketCookie looks up the socket of the context in R6 in m by its cookie (the key
// left at fp-8): R0 is the value, or the program jumps to miss.
func bySocketCookie(m *ebpf.Map, miss string) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnGetSocketCookie.Call(),
		asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, miss),
	}
}

func sockAddrSpec(name string, at ebpf.AttachType, insns asm.Instructions) *ebpf.ProgramSpec {
	return &ebpf.ProgramSpec{Name: name, Type: ebpf.CGroupSockAddr, AttachType: at, Instructions: insns, License: "GPL"}
}

// Offsets in struct bpf_sock_ops.
const (
	offOp           = 0
	offArg0         = 4 // BPF_SOCK_OPS_STATE_CB: the old state
	offArg1         = 8 // and the new
	offLocalPort    = 68
	offCbFlags      = 84
	offTotalRetrans = 136
)

// TCP states (include/net/tcp_states.h).
const (
	tcpSynSent = 2
	tcpClose   = 7
)

// failedProgram, a sock_ops program, watches the rewritten sockets only: on their
// connect (BPF_SOCK_OPS_TCP_CONNECT_CB) it asks for state callbacks (other flags on the
// socket, another program's, are kept); when one closes, it forgets the socket in
// reverse (a socket may connect again, elsewhere, after a failed connect or a
// disconnect, and getpeername must not say the old address; and the LRU map holds open
// sockets only), after sending one that goes from SYN_SENT to CLOSE (a reset, a timeout,
// or the client giving up) to events as a rewriteFailure.
func failedProgram(reverse, events *ebpf.Map) *ebpf.ProgramSpec {
	lookup := bySocketCookie(reverse, "out")
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, offOp, asm.Word),
		asm.JEq.Imm(asm.R2, unix.BPF_SOCK_OPS_TCP_CONNECT_CB, "connect"),
		asm.JEq.Imm(asm.R2, unix.BPF_SOCK_OPS_STATE_CB, "state"),
		asm.Ja.Label("out"),
	}
	connect := append(asm.Instructions{}, lookup...)
	connect[0] = connect[0].WithSymbol("connect")
	insns = append(insns, connect...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.R6, offCbFlags, asm.Word),
		asm.Or.Imm(asm.R2, unix.BPF_SOCK_OPS_STATE_CB_FLAG),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.FnSockOpsCbFlagsSet.Call(),
		asm.Ja.Label("out"),
		asm.LoadMem(asm.R2, asm.R6, offArg1, asm.Word).WithSymbol("state"),
		asm.JNE.Imm(asm.R2, tcpClose, "out"),
	)
	insns = append(insns, lookup...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.R6, offArg0, asm.Word),
		asm.JNE.Imm(asm.R2, tcpSynSent, "forget"),
		// the event at fp-32: dialed address and port, local port, SYN retransmissions
		asm.LoadMem(asm.R2, asm.R0, 0, asm.Word),
		asm.StoreMem(asm.RFP, -32, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R0, 4, asm.Word),
		asm.StoreMem(asm.RFP, -28, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, offLocalPort, asm.Word),
		asm.StoreMem(asm.RFP, -24, asm.R2, asm.Word),
		asm.LoadMem(asm.R2, asm.R6, offTotalRetrans, asm.Word),
		asm.StoreMem(asm.RFP, -20, asm.R2, asm.Word),
		asm.LoadMapPtr(asm.R1, events.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -32),
		asm.Mov.Imm(asm.R3, 16),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		// reverse[socket cookie] forgotten (the key at fp-8 still there)
		asm.LoadMapPtr(asm.R1, reverse.FD()).WithSymbol("forget"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapDeleteElem.Call(),
		asm.Mov.Imm(asm.R0, 1).WithSymbol("out"),
		asm.Return(),
	)
	return &ebpf.ProgramSpec{Name: "confine_fail4", Type: ebpf.SockOps, AttachType: ebpf.AttachCGroupSockOps, Instructions: insns, License: "GPL"}
}

// rewriteFailure is failedProgram's event, as it writes it.
type rewriteFailure struct {
	IP          [4]byte
	Port        [2]byte // big-endian
	_           [2]byte
	LocalPort   uint32 // host order
	Retransmits uint32
}
