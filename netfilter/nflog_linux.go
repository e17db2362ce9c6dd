package netfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confine-sandbox/confine/internal/sockstat"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NFLOG's message types and attributes (include/uapi/linux/netfilter/nfnetlink_log.h);
// golang.org/x/sys/unix has only NFNL_SUBSYS_ULOG and NFNETLINK_V0.
const (
	nfulnlMsgPacket = 0
	nfulnlMsgConfig = 1

	nfulaCfgCmd      = 1 // struct nfulnl_msg_config_cmd: u8 command
	nfulaCfgMode     = 2 // struct nfulnl_msg_config_mode: be32 range, u8 mode, u8 pad
	nfulaCfgQthresh  = 5 // be32
	nfulnlCfgCmdBind = 1
	nfulnlCopyPacket = 2

	nfulaTimestamp     = 3 // struct nfulnl_msg_packet_timestamp: be64 sec, be64 usec
	nfulaIfindexIndev  = 4
	nfulaIfindexOutdev = 5
	nfulaPayload       = 9
	nfulaPrefix        = 10
)

// copyRange is how much of each packet the kernel copies: the largest IPv4 header (60
// bytes) or an IPv6 header (40) plus the ports, with room to spare.
const copyRange = 128

// readBuffer is the socket receive buffer asked for. A queued record costs about 830 bytes
// of it, so 4 MiB (which the kernel doubles) held 10,082 unread records on Linux 6.18.
const readBuffer = 4 << 20

// LogRecord is one packet a ruleset logged (a drop).
type LogRecord struct {
	// Time is the kernel's receive timestamp when the packet had one (NFULA_TIMESTAMP),
	// otherwise the time Next read the record.
	Time  time.Time
	Group uint16
	// Prefix is the rule's log prefix as written, trailing space included
	// ("confine-drop ingress: "); only the C string's NUL is removed.
	Prefix string
	// Proto is "tcp", "udp", "icmp", "icmpv6" or the protocol number in decimal; "" when
	// the payload is not IP.
	Proto            string
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // 0 when not TCP/UDP, or for a later fragment
	// InDev and OutDev are interface indexes in the namespace listened to; 0 when absent
	// (no OutDev on input, no InDev on output).
	InDev, OutDev int
	// Lost counts records the kernel discarded because the socket's receive buffer was
	// full, and that no earlier record reported. The kernel only counts them (sk_drops,
	// read with SO_MEMINFO): what they were is gone, and they may be newer than this
	// record, which was already queued when they overflowed the buffer.
	Lost uint64
	// Suppressed, when not 0, makes this record no packet but a count: that many of
	// Prefix's chain's drops since the last such record went unlogged (LogRate). Only
	// Time and Prefix are set beside it.
	Suppressed uint64
}

// LogReader receives the records of one NFLOG group. One goroutine calls Next; Close may
// be called from any goroutine.
type LogReader struct {
	conn    *netlink.Conn
	pending []netlink.Message
	drops   uint32 // sk_drops at the last count
	lost    uint64 // counted and not yet reported
	closed  atomic.Bool
	nsPath  string
	watch   *suppressWatch // nil unless CountSuppressed
	mu      sync.Mutex     // guards counts
	counts  []LogRecord    // Suppressed records not yet returned
	// active is when a record last came or a count last gained: a drop past the limit
	// follows a logged one within 1/LogRate s, so while it is recent Next wakes for the
	// counters when they are due, even if no record comes (the tail of a flood would
	// otherwise wait for the next drop, or Close, and die with a killed supervisor).
	active time.Time
}

// ListenLog subscribes to NFLOG group in the network namespace at nsPath, or in the
// calling thread's namespace when nsPath is "". Only one socket may hold a group in a
// namespace: a second ListenLog there fails with EPERM, as it does without CAP_NET_ADMIN.
func ListenLog(nsPath string, group uint16) (*LogReader, error) {
	cfg := &netlink.Config{}
	if nsPath != "" {
		ns, err := os.Open(nsPath)
		if err != nil {
			return nil, fmt.Errorf("nflog: %w", err)
		}
		defer ns.Close() // the socket keeps the namespace it was created in
		// mdlayher/socket creates the socket on a locked thread that it moves into ns and
		// back, as Apply's connection does.
		cfg.NetNS = int(ns.Fd())
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("nflog: %w", err)
	}
	r := &LogReader{conn: conn, nsPath: nsPath}
	if err := r.bind(group); err != nil {
		conn.Close()
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("nflog: group %d: %w (another socket holds the group in that namespace, or CAP_NET_ADMIN is missing)", group, err)
		}
		return nil, fmt.Errorf("nflog: group %d: %w", group, err)
	}
	return r, nil
}

// bind sizes the buffer and binds the group. Both precede the BIND, so no record arrives
// before the loss counter starts.
func (r *LogReader) bind(group uint16) error {
	// SO_RCVBUFFORCE as root, else SO_RCVBUF capped at net.core.rmem_max.
	if err := r.conn.SetReadBuffer(readBuffer); err != nil {
		return err
	}
	// An overrun would otherwise surface once as ENOBUFS from recvmsg; sk_drops counts
	// every lost record either way, so Lost reports it without breaking the read loop.
	if err := r.conn.SetOption(netlink.NoENOBUFS, true); err != nil {
		return err
	}
	if err := r.countDrops(); err != nil {
		return err
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Bytes(nfulaCfgCmd, []byte{nfulnlCfgCmdBind})
	ae.Bytes(nfulaCfgMode, append(binary.BigEndian.AppendUint32(nil, copyRange), nfulnlCopyPacket, 0))
	// One record per message: the default (100 records or 1 s, whichever first) delays
	// each drop by up to a second.
	ae.Uint32(nfulaCfgQthresh, 1)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	// No PF_UNBIND/PF_BIND: they choose the namespace's logger for `log` rules without a
	// group; `log group N` picks nfnetlink_log itself.
	req, err := r.conn.Send(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8 | nfulnlMsgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: append(nfgenmsg(group), attrs...),
	})
	if err != nil {
		return err
	}
	// Records can precede the ack when packets are already being logged: keep them.
	for {
		msgs, err := r.conn.Receive() // an error ack returns as err
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == netlink.Error && m.Header.Sequence == req.Header.Sequence {
				return nil
			}
			r.pending = append(r.pending, m)
		}
	}
}

// nfgenmsg is the nfnetlink header: family (any), version, and the group as res_id.
func nfgenmsg(group uint16) []byte {
	return binary.BigEndian.AppendUint16([]byte{unix.AF_UNSPEC, unix.NFNETLINK_V0}, group)
}

// Next blocks for the next record. Once Close is called, it returns an error wrapping
// net.ErrClosed, also when it was already blocked.
func (r *LogReader) Next() (LogRecord, error) {
	for {
		if rec, ok := r.count(); ok {
			return rec, nil
		}
		for len(r.pending) > 0 {
			m := r.pending[0]
			r.pending = r.pending[1:]
			// Skip what is not a record: NLMSG_DONE closes a batch of several.
			if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_ULOG<<8|nfulnlMsgPacket) {
				continue
			}
			rec, err := parseRecord(m.Data)
			if err != nil {
				return LogRecord{}, fmt.Errorf("nflog: bug: malformed record: %w", err)
			}
			rec.Lost, r.lost = r.lost, 0
			return rec, nil
		}
		var wake time.Time // none
		if r.watch != nil && time.Since(r.active) < 2*suppressedEvery {
			if due := r.watch.due(); due.After(time.Now()) { // past: the watch has stopped
				wake = due
			}
		}
		if err := r.conn.SetReadDeadline(wake); err != nil && !r.closed.Load() { // closed: Receive says so
			return LogRecord{}, fmt.Errorf("nflog: %w", err)
		}
		msgs, err := r.conn.Receive()
		if r.closed.Load() {
			if rec, ok := r.count(); ok {
				return rec, nil // Close's last count
			}
			return LogRecord{}, fmt.Errorf("nflog: %w", net.ErrClosed)
		}
		if err != nil && !wake.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // the counters are due
		}
		if err != nil {
			return LogRecord{}, fmt.Errorf("nflog: %w", err)
		}
		if err := r.countDrops(); err != nil {
			return LogRecord{}, fmt.Errorf("nflog: %w", err)
		}
		r.pending = msgs
		r.active = time.Now()
	}
}

// Close stops the subscription: the kernel drops the group's binding when the socket
// closes (nfulnl_rcv_nl_event), so no UNBIND is sent.
func (r *LogReader) Close() error {
	if r.watch != nil {
		last := r.watch.stop()
		r.mu.Lock()
		r.counts = append(r.counts, last...)
		r.mu.Unlock()
	}
	r.closed.Store(true)
	return r.conn.Close()
}

// count returns the next Suppressed record: one left from the last read, or one of a
// read that is due.
func (r *LogReader) count() (LogRecord, bool) {
	if r.watch == nil {
		return LogRecord{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.counts) == 0 && !r.closed.Load() && time.Now().After(r.watch.due()) {
		if r.counts = r.watch.gained(); len(r.counts) > 0 {
			r.active = time.Now()
		}
	}
	if len(r.counts) == 0 {
		return LogRecord{}, false
	}
	rec := r.counts[0]
	r.counts = r.counts[1:]
	return rec, true
}

// countDrops adds to r.lost the messages netlink_overrun discarded since the last call.
func (r *LogReader) countDrops() error {
	drops, err := sockstat.Drops(r.conn)
	if err != nil {
		return err
	}
	r.lost += uint64(drops - r.drops) // modular: the kernel counter is 32 bits
	r.drops = drops
	return nil
}

// parseRecord decodes an NFULNL_MSG_PACKET: the nfgenmsg header, then attributes.
func parseRecord(b []byte) (LogRecord, error) {
	if len(b) < 4 {
		return LogRecord{}, errors.New("short nfgenmsg")
	}
	rec := LogRecord{Group: binary.BigEndian.Uint16(b[2:4])}
	ad, err := netlink.NewAttributeDecoder(b[4:])
	if err != nil {
		return LogRecord{}, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case nfulaPrefix:
			rec.Prefix = ad.String()
		case nfulaTimestamp:
			if ts := ad.Bytes(); len(ts) == 16 {
				sec, usec := binary.BigEndian.Uint64(ts), binary.BigEndian.Uint64(ts[8:])
				rec.Time = time.Unix(int64(sec), int64(usec)*1000)
			}
		case nfulaIfindexIndev:
			rec.InDev = int(ad.Uint32())
		case nfulaIfindexOutdev:
			rec.OutDev = int(ad.Uint32())
		case nfulaPayload:
			parsePayload(&rec, ad.Bytes())
		}
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	return rec, ad.Err()
}

// parsePayload reads addresses, protocol and ports from the copied head of the packet.
// IPv6 extension headers are not followed: Proto is then the first one's number.
func parsePayload(rec *LogRecord, p []byte) {
	var proto byte
	var l4 []byte
	switch {
	case len(p) >= 20 && p[0]>>4 == 4:
		rec.Src, rec.Dst = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		proto = p[9]
		// Only the first fragment (offset 0) carries the transport header.
		if ihl := int(p[0]&0x0f) * 4; ihl >= 20 && ihl <= len(p) && binary.BigEndian.Uint16(p[6:8])&0x1fff == 0 {
			l4 = p[ihl:]
		}
	case len(p) >= 40 && p[0]>>4 == 6:
		rec.Src, rec.Dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		proto, l4 = p[6], p[40:]
	default:
		return
	}
	names := map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMP: "icmp", unix.IPPROTO_ICMPV6: "icmpv6"}
	rec.Proto = names[proto]
	if rec.Proto == "" {
		rec.Proto = strconv.Itoa(int(proto))
	}
	if (proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_UDP) && len(l4) >= 4 {
		rec.SrcPort, rec.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	}
}
