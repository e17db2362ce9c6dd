package netfilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The legacy x_tables filter table (iptables-legacy) is invisible to nftables, and a
// FORWARD policy of DROP there drops what confine's tables accept. Its policy is read as
// iptables-legacy -S does, from the kernel (linux/netfilter_ipv4/ip_tables.h):
// IPT_SO_GET_INFO gives the table's size and each hook's underflow, the offset of the
// chain's policy rule; IPT_SO_GET_ENTRIES gives the rules.
const (
	iptSoGetInfo    = 64 // IPT_SO_GET_INFO
	iptSoGetEntries = 65 // IPT_SO_GET_ENTRIES
	nfInetForward   = 2  // NF_INET_FORWARD
	// The layout on every Linux ABI: struct ipt_getinfo is 84 bytes; ipt_get_entries'
	// entries start at 40 (ipt_entry holds u64 counters); an ipt_entry's target_offset
	// is at 88; a standard target's verdict follows its 32-byte xt_entry_target.
	iptInfoSize       = 84
	iptEntriesHeader  = 40
	iptTargetOffsetAt = 88
	xtTargetHeader    = 32
	verdictDrop       = -1 // -NF_DROP - 1, NF_DROP being 0
)

// legacyForwardDrop reports whether the calling thread's namespace has a legacy filter
// table whose FORWARD policy is DROP. A namespace without one is never asked (asking
// would make it).
func legacyForwardDrop() (bool, error) {
	names, err := os.ReadFile("/proc/thread-self/net/ip_tables_names")
	if err != nil || !strings.Contains("\n"+string(names), "\nfilter\n") {
		return false, nil // no legacy iptables, or no filter table in this namespace
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	info := make([]byte, iptInfoSize)
	copy(info, "filter")
	if err := getsockopt(fd, iptSoGetInfo, info); err != nil {
		return false, fmt.Errorf("IPT_SO_GET_INFO: %w", err)
	}
	ne := binary.NativeEndian
	hooks := ne.Uint32(info[32:])
	underflow := ne.Uint32(info[32+4+20+4*nfInetForward:])
	size := ne.Uint32(info[80:])
	if hooks&(1<<nfInetForward) == 0 {
		return false, nil
	}
	entries := make([]byte, iptEntriesHeader+int(size))
	copy(entries, "filter")
	ne.PutUint32(entries[32:], size)
	if err := getsockopt(fd, iptSoGetEntries, entries); err != nil {
		return false, fmt.Errorf("IPT_SO_GET_ENTRIES: %w", err)
	}
	table := entries[iptEntriesHeader:]
	if int(underflow)+iptTargetOffsetAt+2 > len(table) {
		return false, fmt.Errorf("legacy filter table: FORWARD policy at %d past %d bytes", underflow, len(table))
	}
	entry := table[underflow:]
	target := int(ne.Uint16(entry[iptTargetOffsetAt:]))
	if target+xtTargetHeader+4 > len(entry) || bytes.IndexByte(entry[target+2:target+xtTargetHeader-1], 0) != 0 {
		return false, nil // not a standard target: no policy verdict to read
	}
	return int32(ne.Uint32(entry[target+xtTargetHeader:])) == verdictDrop, nil
}

func getsockopt(fd, opt int, buf []byte) error {
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_IP, uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
