//go:build linux && amd64

package policy

import (
	"testing"

	"golang.org/x/sys/unix"
)

// argConstantsInUnix lists every argConstants entry that golang.org/x/sys/unix
// also defines with the kernel's value, so the two can be compared. The values
// in argConstants are x86_64's, hence the amd64 constraint: several of these
// (O_DIRECTORY, ioctl numbers) differ on other architectures.
var argConstantsInUnix = map[string]uint64{
	// Address families.
	"AF_ALG":        unix.AF_ALG,
	"AF_APPLETALK":  unix.AF_APPLETALK,
	"AF_ATMPVC":     unix.AF_ATMPVC,
	"AF_ATMSVC":     unix.AF_ATMSVC,
	"AF_AX25":       unix.AF_AX25,
	"AF_BLUETOOTH":  unix.AF_BLUETOOTH,
	"AF_BRIDGE":     unix.AF_BRIDGE,
	"AF_CAIF":       unix.AF_CAIF,
	"AF_CAN":        unix.AF_CAN,
	"AF_DECnet":     unix.AF_DECnet,
	"AF_IB":         unix.AF_IB,
	"AF_IEEE802154": unix.AF_IEEE802154,
	"AF_INET":       unix.AF_INET,
	"AF_INET6":      unix.AF_INET6,
	"AF_IPX":        unix.AF_IPX,
	"AF_IRDA":       unix.AF_IRDA,
	"AF_ISDN":       unix.AF_ISDN,
	"AF_IUCV":       unix.AF_IUCV,
	"AF_KCM":        unix.AF_KCM,
	"AF_KEY":        unix.AF_KEY,
	"AF_LLC":        unix.AF_LLC,
	"AF_LOCAL":      unix.AF_LOCAL,
	"AF_MCTP":       unix.AF_MCTP,
	"AF_MPLS":       unix.AF_MPLS,
	"AF_NETLINK":    unix.AF_NETLINK,
	"AF_NFC":        unix.AF_NFC,
	"AF_PACKET":     unix.AF_PACKET,
	"AF_PHONET":     unix.AF_PHONET,
	"AF_PPPOX":      unix.AF_PPPOX,
	"AF_QIPCRTR":    unix.AF_QIPCRTR,
	"AF_RDS":        unix.AF_RDS,
	"AF_ROSE":       unix.AF_ROSE,
	"AF_ROUTE":      unix.AF_ROUTE,
	"AF_RXRPC":      unix.AF_RXRPC,
	"AF_SECURITY":   unix.AF_SECURITY,
	"AF_SMC":        unix.AF_SMC,
	"AF_SNA":        unix.AF_SNA,
	"AF_TIPC":       unix.AF_TIPC,
	"AF_UNIX":       unix.AF_UNIX,
	"AF_UNSPEC":     unix.AF_UNSPEC,
	"AF_VSOCK":      unix.AF_VSOCK,
	"AF_X25":        unix.AF_X25,
	"AF_XDP":        unix.AF_XDP,

	// Socket types and flags.
	"SOCK_CLOEXEC":   unix.SOCK_CLOEXEC,
	"SOCK_DCCP":      unix.SOCK_DCCP,
	"SOCK_DGRAM":     unix.SOCK_DGRAM,
	"SOCK_NONBLOCK":  unix.SOCK_NONBLOCK,
	"SOCK_PACKET":    unix.SOCK_PACKET,
	"SOCK_RAW":       unix.SOCK_RAW,
	"SOCK_RDM":       unix.SOCK_RDM,
	"SOCK_SEQPACKET": unix.SOCK_SEQPACKET,
	"SOCK_STREAM":    unix.SOCK_STREAM,

	// IP protocols.
	"IPPROTO_AH":       unix.IPPROTO_AH,
	"IPPROTO_BEETPH":   unix.IPPROTO_BEETPH,
	"IPPROTO_COMP":     unix.IPPROTO_COMP,
	"IPPROTO_DCCP":     unix.IPPROTO_DCCP,
	"IPPROTO_EGP":      unix.IPPROTO_EGP,
	"IPPROTO_ENCAP":    unix.IPPROTO_ENCAP,
	"IPPROTO_ESP":      unix.IPPROTO_ESP,
	"IPPROTO_ETHERNET": unix.IPPROTO_ETHERNET,
	"IPPROTO_GRE":      unix.IPPROTO_GRE,
	"IPPROTO_ICMP":     unix.IPPROTO_ICMP,
	"IPPROTO_ICMPV6":   unix.IPPROTO_ICMPV6,
	"IPPROTO_IDP":      unix.IPPROTO_IDP,
	"IPPROTO_IGMP":     unix.IPPROTO_IGMP,
	"IPPROTO_IP":       unix.IPPROTO_IP,
	"IPPROTO_IPIP":     unix.IPPROTO_IPIP,
	"IPPROTO_IPV6":     unix.IPPROTO_IPV6,
	"IPPROTO_L2TP":     unix.IPPROTO_L2TP,
	"IPPROTO_MPLS":     unix.IPPROTO_MPLS,
	"IPPROTO_MPTCP":    unix.IPPROTO_MPTCP,
	"IPPROTO_MTP":      unix.IPPROTO_MTP,
	"IPPROTO_PIM":      unix.IPPROTO_PIM,
	"IPPROTO_PUP":      unix.IPPROTO_PUP,
	"IPPROTO_RAW":      unix.IPPROTO_RAW,
	"IPPROTO_RSVP":     unix.IPPROTO_RSVP,
	"IPPROTO_SCTP":     unix.IPPROTO_SCTP,
	"IPPROTO_SMC":      unix.IPPROTO_SMC,
	"IPPROTO_TCP":      unix.IPPROTO_TCP,
	"IPPROTO_TP":       unix.IPPROTO_TP,
	"IPPROTO_UDP":      unix.IPPROTO_UDP,
	"IPPROTO_UDPLITE":  unix.IPPROTO_UDPLITE,

	// clone(2) flags.
	"CLONE_CHILD_CLEARTID": unix.CLONE_CHILD_CLEARTID,
	"CLONE_CHILD_SETTID":   unix.CLONE_CHILD_SETTID,
	"CLONE_CLEAR_SIGHAND":  unix.CLONE_CLEAR_SIGHAND,
	"CLONE_DETACHED":       unix.CLONE_DETACHED,
	"CLONE_FILES":          unix.CLONE_FILES,
	"CLONE_FS":             unix.CLONE_FS,
	"CLONE_INTO_CGROUP":    unix.CLONE_INTO_CGROUP,
	"CLONE_IO":             unix.CLONE_IO,
	"CLONE_NEWCGROUP":      unix.CLONE_NEWCGROUP,
	"CLONE_NEWIPC":         unix.CLONE_NEWIPC,
	"CLONE_NEWNET":         unix.CLONE_NEWNET,
	"CLONE_NEWNS":          unix.CLONE_NEWNS,
	"CLONE_NEWPID":         unix.CLONE_NEWPID,
	"CLONE_NEWTIME":        unix.CLONE_NEWTIME,
	"CLONE_NEWUSER":        unix.CLONE_NEWUSER,
	"CLONE_NEWUTS":         unix.CLONE_NEWUTS,
	"CLONE_PARENT":         unix.CLONE_PARENT,
	"CLONE_PARENT_SETTID":  unix.CLONE_PARENT_SETTID,
	"CLONE_PIDFD":          unix.CLONE_PIDFD,
	"CLONE_PTRACE":         unix.CLONE_PTRACE,
	"CLONE_SETTLS":         unix.CLONE_SETTLS,
	"CLONE_SIGHAND":        unix.CLONE_SIGHAND,
	"CLONE_SYSVSEM":        unix.CLONE_SYSVSEM,
	"CLONE_THREAD":         unix.CLONE_THREAD,
	"CLONE_UNTRACED":       unix.CLONE_UNTRACED,
	"CLONE_VFORK":          unix.CLONE_VFORK,
	"CLONE_VM":             unix.CLONE_VM,
	"CSIGNAL":              unix.CSIGNAL,

	// ioctl(2) requests.
	"FICLONE":         unix.FICLONE,
	"FICLONERANGE":    unix.FICLONERANGE,
	"FS_IOC_GETFLAGS": unix.FS_IOC_GETFLAGS,
	"FS_IOC_SETFLAGS": unix.FS_IOC_SETFLAGS,
	"TCFLSH":          unix.TCFLSH,
	"TCGETA":          unix.TCGETA,
	"TCGETS":          unix.TCGETS,
	"TCGETS2":         unix.TCGETS2,
	"TCSBRK":          unix.TCSBRK,
	"TCSBRKP":         unix.TCSBRKP,
	"TCSETA":          unix.TCSETA,
	"TCSETAF":         unix.TCSETAF,
	"TCSETAW":         unix.TCSETAW,
	"TCSETS":          unix.TCSETS,
	"TCSETS2":         unix.TCSETS2,
	"TCSETSF":         unix.TCSETSF,
	"TCSETSF2":        unix.TCSETSF2,
	"TCSETSW":         unix.TCSETSW,
	"TCSETSW2":        unix.TCSETSW2,
	"TCXONC":          unix.TCXONC,
	"TIOCCBRK":        unix.TIOCCBRK,
	"TIOCCONS":        unix.TIOCCONS,
	"TIOCEXCL":        unix.TIOCEXCL,
	"TIOCGDEV":        unix.TIOCGDEV,
	"TIOCGETD":        unix.TIOCGETD,
	"TIOCGPGRP":       unix.TIOCGPGRP,
	"TIOCGPTN":        unix.TIOCGPTN,
	"TIOCGPTPEER":     unix.TIOCGPTPEER,
	"TIOCGSID":        unix.TIOCGSID,
	"TIOCGWINSZ":      unix.TIOCGWINSZ,
	"TIOCINQ":         unix.TIOCINQ,
	"TIOCLINUX":       unix.TIOCLINUX,
	"TIOCMGET":        unix.TIOCMGET,
	"TIOCMSET":        unix.TIOCMSET,
	"TIOCNOTTY":       unix.TIOCNOTTY,
	"TIOCNXCL":        unix.TIOCNXCL,
	"TIOCOUTQ":        unix.TIOCOUTQ,
	"TIOCPKT":         unix.TIOCPKT,
	"TIOCSBRK":        unix.TIOCSBRK,
	"TIOCSCTTY":       unix.TIOCSCTTY,
	"TIOCSETD":        unix.TIOCSETD,
	"TIOCSIG":         unix.TIOCSIG,
	"TIOCSPGRP":       unix.TIOCSPGRP,
	"TIOCSPTLCK":      unix.TIOCSPTLCK,
	"TIOCSTI":         unix.TIOCSTI,
	"TIOCSWINSZ":      unix.TIOCSWINSZ,
	"TIOCVHANGUP":     unix.TIOCVHANGUP,

	// prctl(2) options.
	"PR_CAPBSET_DROP":              unix.PR_CAPBSET_DROP,
	"PR_CAPBSET_READ":              unix.PR_CAPBSET_READ,
	"PR_CAP_AMBIENT":               unix.PR_CAP_AMBIENT,
	"PR_GET_AUXV":                  unix.PR_GET_AUXV,
	"PR_GET_CHILD_SUBREAPER":       unix.PR_GET_CHILD_SUBREAPER,
	"PR_GET_DUMPABLE":              unix.PR_GET_DUMPABLE,
	"PR_GET_ENDIAN":                unix.PR_GET_ENDIAN,
	"PR_GET_FPEMU":                 unix.PR_GET_FPEMU,
	"PR_GET_FPEXC":                 unix.PR_GET_FPEXC,
	"PR_GET_FP_MODE":               unix.PR_GET_FP_MODE,
	"PR_GET_IO_FLUSHER":            unix.PR_GET_IO_FLUSHER,
	"PR_GET_KEEPCAPS":              unix.PR_GET_KEEPCAPS,
	"PR_GET_MDWE":                  unix.PR_GET_MDWE,
	"PR_GET_MEMORY_MERGE":          unix.PR_GET_MEMORY_MERGE,
	"PR_GET_NAME":                  unix.PR_GET_NAME,
	"PR_GET_NO_NEW_PRIVS":          unix.PR_GET_NO_NEW_PRIVS,
	"PR_GET_PDEATHSIG":             unix.PR_GET_PDEATHSIG,
	"PR_GET_SECCOMP":               unix.PR_GET_SECCOMP,
	"PR_GET_SECUREBITS":            unix.PR_GET_SECUREBITS,
	"PR_GET_SHADOW_STACK_STATUS":   unix.PR_GET_SHADOW_STACK_STATUS,
	"PR_GET_SPECULATION_CTRL":      unix.PR_GET_SPECULATION_CTRL,
	"PR_GET_TAGGED_ADDR_CTRL":      unix.PR_GET_TAGGED_ADDR_CTRL,
	"PR_GET_THP_DISABLE":           unix.PR_GET_THP_DISABLE,
	"PR_GET_TID_ADDRESS":           unix.PR_GET_TID_ADDRESS,
	"PR_GET_TIMERSLACK":            unix.PR_GET_TIMERSLACK,
	"PR_GET_TIMING":                unix.PR_GET_TIMING,
	"PR_GET_TSC":                   unix.PR_GET_TSC,
	"PR_GET_UNALIGN":               unix.PR_GET_UNALIGN,
	"PR_LOCK_SHADOW_STACK_STATUS":  unix.PR_LOCK_SHADOW_STACK_STATUS,
	"PR_MCE_KILL":                  unix.PR_MCE_KILL,
	"PR_MCE_KILL_GET":              unix.PR_MCE_KILL_GET,
	"PR_SCHED_CORE":                unix.PR_SCHED_CORE,
	"PR_SET_CHILD_SUBREAPER":       unix.PR_SET_CHILD_SUBREAPER,
	"PR_SET_DUMPABLE":              unix.PR_SET_DUMPABLE,
	"PR_SET_ENDIAN":                unix.PR_SET_ENDIAN,
	"PR_SET_FPEMU":                 unix.PR_SET_FPEMU,
	"PR_SET_FPEXC":                 unix.PR_SET_FPEXC,
	"PR_SET_FP_MODE":               unix.PR_SET_FP_MODE,
	"PR_SET_IO_FLUSHER":            unix.PR_SET_IO_FLUSHER,
	"PR_SET_KEEPCAPS":              unix.PR_SET_KEEPCAPS,
	"PR_SET_MDWE":                  unix.PR_SET_MDWE,
	"PR_SET_MEMORY_MERGE":          unix.PR_SET_MEMORY_MERGE,
	"PR_SET_MM":                    unix.PR_SET_MM,
	"PR_SET_NAME":                  unix.PR_SET_NAME,
	"PR_SET_NO_NEW_PRIVS":          unix.PR_SET_NO_NEW_PRIVS,
	"PR_SET_PDEATHSIG":             unix.PR_SET_PDEATHSIG,
	"PR_SET_PTRACER":               unix.PR_SET_PTRACER,
	"PR_SET_SECCOMP":               unix.PR_SET_SECCOMP,
	"PR_SET_SECUREBITS":            unix.PR_SET_SECUREBITS,
	"PR_SET_SHADOW_STACK_STATUS":   unix.PR_SET_SHADOW_STACK_STATUS,
	"PR_SET_SPECULATION_CTRL":      unix.PR_SET_SPECULATION_CTRL,
	"PR_SET_SYSCALL_USER_DISPATCH": unix.PR_SET_SYSCALL_USER_DISPATCH,
	"PR_SET_TAGGED_ADDR_CTRL":      unix.PR_SET_TAGGED_ADDR_CTRL,
	"PR_SET_THP_DISABLE":           unix.PR_SET_THP_DISABLE,
	"PR_SET_TIMERSLACK":            unix.PR_SET_TIMERSLACK,
	"PR_SET_TIMING":                unix.PR_SET_TIMING,
	"PR_SET_TSC":                   unix.PR_SET_TSC,
	"PR_SET_UNALIGN":               unix.PR_SET_UNALIGN,
	"PR_SET_VMA":                   unix.PR_SET_VMA,
	"PR_TASK_PERF_EVENTS_DISABLE":  unix.PR_TASK_PERF_EVENTS_DISABLE,
	"PR_TASK_PERF_EVENTS_ENABLE":   unix.PR_TASK_PERF_EVENTS_ENABLE,

	// open(2) flags.
	"O_ACCMODE":   unix.O_ACCMODE,
	"O_APPEND":    unix.O_APPEND,
	"O_ASYNC":     unix.O_ASYNC,
	"O_CLOEXEC":   unix.O_CLOEXEC,
	"O_CREAT":     unix.O_CREAT,
	"O_DIRECT":    unix.O_DIRECT,
	"O_DIRECTORY": unix.O_DIRECTORY,
	"O_DSYNC":     unix.O_DSYNC,
	"O_EXCL":      unix.O_EXCL,
	"O_NDELAY":    unix.O_NDELAY,
	"O_NOATIME":   unix.O_NOATIME,
	"O_NOCTTY":    unix.O_NOCTTY,
	"O_NOFOLLOW":  unix.O_NOFOLLOW,
	"O_NONBLOCK":  unix.O_NONBLOCK,
	"O_PATH":      unix.O_PATH,
	"O_RDONLY":    unix.O_RDONLY,
	"O_RDWR":      unix.O_RDWR,
	"O_SYNC":      unix.O_SYNC,
	"O_TMPFILE":   unix.O_TMPFILE,
	"O_TRUNC":     unix.O_TRUNC,
	"O_WRONLY":    unix.O_WRONLY,

	// Memory protection.
	"PROT_EXEC":      unix.PROT_EXEC,
	"PROT_GROWSDOWN": unix.PROT_GROWSDOWN,
	"PROT_GROWSUP":   unix.PROT_GROWSUP,
	"PROT_NONE":      unix.PROT_NONE,
	"PROT_READ":      unix.PROT_READ,
	"PROT_WRITE":     unix.PROT_WRITE,

	// Mapping flags.
	"MAP_32BIT":           unix.MAP_32BIT,
	"MAP_ANON":            unix.MAP_ANON,
	"MAP_ANONYMOUS":       unix.MAP_ANONYMOUS,
	"MAP_DENYWRITE":       unix.MAP_DENYWRITE,
	"MAP_EXECUTABLE":      unix.MAP_EXECUTABLE,
	"MAP_FIXED":           unix.MAP_FIXED,
	"MAP_FIXED_NOREPLACE": unix.MAP_FIXED_NOREPLACE,
	"MAP_GROWSDOWN":       unix.MAP_GROWSDOWN,
	"MAP_HUGETLB":         unix.MAP_HUGETLB,
	"MAP_LOCKED":          unix.MAP_LOCKED,
	"MAP_NONBLOCK":        unix.MAP_NONBLOCK,
	"MAP_NORESERVE":       unix.MAP_NORESERVE,
	"MAP_POPULATE":        unix.MAP_POPULATE,
	"MAP_PRIVATE":         unix.MAP_PRIVATE,
	"MAP_SHARED":          unix.MAP_SHARED,
	"MAP_SHARED_VALIDATE": unix.MAP_SHARED_VALIDATE,
	"MAP_STACK":           unix.MAP_STACK,
	"MAP_SYNC":            unix.MAP_SYNC,
	"MAP_TYPE":            unix.MAP_TYPE,

	// File types.
	"S_IFBLK":  unix.S_IFBLK,
	"S_IFCHR":  unix.S_IFCHR,
	"S_IFDIR":  unix.S_IFDIR,
	"S_IFIFO":  unix.S_IFIFO,
	"S_IFLNK":  unix.S_IFLNK,
	"S_IFMT":   unix.S_IFMT,
	"S_IFREG":  unix.S_IFREG,
	"S_IFSOCK": unix.S_IFSOCK,
}

// argConstantsLiteral lists the entries unix lacks, or defines with the C
// library's value instead of the kernel's, with the values from the kernel's
// uapi headers (linux/personality.h, asm-generic/ioctls.h, asm-generic/fcntl.h)
// and include/linux/net.h for SOCK_TYPE_MASK.
var argConstantsLiteral = map[string]uint64{
	// Terminal and file ioctls unix defines only for the BSDs.
	"FIOASYNC": 0x5452,
	"FIOCLEX":  0x5451,
	"FIONBIO":  0x5421,
	"FIONCLEX": 0x5450,
	"FIONREAD": 0x541b,
	"FIOQSIZE": 0x5460,

	// personality(2) domains and flags.
	"ADDR_COMPAT_LAYOUT": 0x200000,
	"ADDR_LIMIT_32BIT":   0x800000,
	"ADDR_LIMIT_3GB":     0x8000000,
	"ADDR_NO_RANDOMIZE":  0x40000,
	"FDPIC_FUNCPTRS":     0x80000,
	"MMAP_PAGE_ZERO":     0x100000,
	"PER_BSD":            0x6,
	"PER_LINUX":          0x0,
	"PER_LINUX32":        0x8,
	"PER_LINUX32_3GB":    0x8000008,
	"PER_LINUX_32BIT":    0x800000,
	"PER_LINUX_FDPIC":    0x80000,
	"PER_MASK":           0xff,
	"PER_SVR4":           0x4100001,
	"READ_IMPLIES_EXEC":  0x400000,
	"SHORT_INODE":        0x1000000,
	"STICKY_TIMEOUTS":    0x4000000,
	"UNAME26":            0x20000,
	"WHOLE_SECONDS":      0x2000000,

	// unix.O_LARGEFILE is 0, as in 64-bit C headers; the kernel bit is 0x8000.
	"O_LARGEFILE": 0x8000,

	// Kernel-internal mask of the type bits in socket(2)'s second argument.
	"SOCK_TYPE_MASK": 0xf,
}

func TestArgConstants(t *testing.T) {
	for name, want := range argConstantsInUnix {
		if got, ok := argConstants()[name]; !ok {
			t.Errorf("%s: missing from argConstants", name)
		} else if got != want {
			t.Errorf("%s = %#x, unix has %#x", name, got, want)
		}
	}
	for name, want := range argConstantsLiteral {
		if _, dup := argConstantsInUnix[name]; dup {
			t.Errorf("%s: listed in both check tables", name)
		}
		if got, ok := argConstants()[name]; !ok {
			t.Errorf("%s: missing from argConstants", name)
		} else if got != want {
			t.Errorf("%s = %#x, want %#x", name, got, want)
		}
	}
	for name := range argConstants() {
		_, inUnix := argConstantsInUnix[name]
		_, literal := argConstantsLiteral[name]
		if !inUnix && !literal {
			t.Errorf("%s: not checked; add it to argConstantsInUnix or argConstantsLiteral", name)
		}
	}
}

// TestArgConstantsRelations pins values the default profile depends on and
// aliases that must agree.
func TestArgConstantsRelations(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"IPPROTO_MPTCP", argConstants()["IPPROTO_MPTCP"], 262},
		{"FIONREAD == TIOCINQ", argConstants()["FIONREAD"], unix.TIOCINQ},
		{"AF_LOCAL == AF_UNIX", argConstants()["AF_LOCAL"], argConstants()["AF_UNIX"]},
		{"AF_ROUTE == AF_NETLINK", argConstants()["AF_ROUTE"], argConstants()["AF_NETLINK"]},
		{"PER_LINUX32_3GB", argConstants()["PER_LINUX32_3GB"], argConstants()["PER_LINUX32"] | argConstants()["ADDR_LIMIT_3GB"]},
		{"PER_LINUX_32BIT", argConstants()["PER_LINUX_32BIT"], argConstants()["PER_LINUX"] | argConstants()["ADDR_LIMIT_32BIT"]},
		{"PER_LINUX_FDPIC", argConstants()["PER_LINUX_FDPIC"], argConstants()["PER_LINUX"] | argConstants()["FDPIC_FUNCPTRS"]},
		{"PER_SVR4", argConstants()["PER_SVR4"], 0x1 | argConstants()["STICKY_TIMEOUTS"] | argConstants()["MMAP_PAGE_ZERO"]},
		{"SOCK_RAW within SOCK_TYPE_MASK", argConstants()["SOCK_RAW"] &^ argConstants()["SOCK_TYPE_MASK"], 0},
		{"CLONE_NEWTIME within CSIGNAL", argConstants()["CLONE_NEWTIME"] &^ argConstants()["CSIGNAL"], 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, c.got, c.want)
		}
	}
}
