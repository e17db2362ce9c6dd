package netfilter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// A port published on 0.0.0.0 is DNAT'd for every local address but loopback (never
// route_localnet: CVE-2020-8558). The host's own connections to 127.0.0.1:HOSTPORT are
// instead rewritten where they start: a cgroup connect4 program changes the address the
// socket connects to into the host table's own DNAT target (the uplink's peer), so the
// connection leaves by the uplink as any connection the host makes to one of its own
// addresses does, the same flow, the same firewall, no proxy between.

// RewriteEntry is one rewritten destination: From is what a client dials, To where its
// socket connects instead.
type RewriteEntry struct{ From, To netip.AddrPort }

// LoopbackRewrites are the rewrites of n's published ports through uplink u: the
// loopback of each tcp port published on 0.0.0.0 goes to the target the host table
// DNATs that port to (addHostDNAT): the peer and HOSTPORT for a stack, whose bridge
// namespace DNATs on to the component; the component itself and PORT for a lone run,
// whose component is the peer.
func LoopbackRewrites(n plan.Network, u *Uplink) []RewriteEntry {
	if u == nil {
		return nil
	}
	var out []RewriteEntry
	for _, p := range kernelPublished(n) {
		a, err := netip.ParseAddr(p.HostAddress)
		if err != nil || !a.IsUnspecified() || p.Proto != "tcp" {
			continue
		}
		port := p.HostPort
		if c, err := netip.ParseAddr(p.Address); err == nil && c == u.Peer {
			port = p.Port
		}
		out = append(out, RewriteEntry{From: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), p.HostPort), To: netip.AddrPortFrom(u.Peer, port)})
	}
	return out
}

// Rewrite holds the programs' bpf_links at the cgroup v2 root. The links are the
// supervisor's file descriptors, never pinned: Close, or the process's death (SIGKILL
// included), detaches both and frees the maps with them.
type Rewrite struct {
	ports, reverse, events *ebpf.Map
	progs                  []*ebpf.Program
	links                  []link.Link
	failures               *ringbuf.Reader
	read                   chan struct{} // closed when the failures are read to the end
	// Root is the cgroup the programs are attached to.
	Root string
}

// RewriteFailure is a rewritten connection that closed before it was established: the
// component refused it (a reset), its firewall dropped it and the client's SYNs went
// unanswered, or the client gave up.
type RewriteFailure struct {
	RewriteEntry
	LocalPort   uint16 // the client's
	Retransmits uint32 // SYNs sent again
}

// AttachRewrite loads the programs with entries for the calling thread's network
// namespace and attaches them; failed, when not nil, hears of each rewritten connection
// that failed (until Close). All or nothing: on error nothing stays attached.
func AttachRewrite(entries []RewriteEntry, failed func(RewriteFailure)) (_ *Rewrite, err error) {
	root, err := cgroup2Root()
	if err != nil {
		return nil, err
	}
	cookie, err := netnsCookieValue()
	if err != nil {
		return nil, fmt.Errorf("netns cookie: %w", err)
	}
	r := &Rewrite{Root: root}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.ports, r.reverse, err = newRewriteMaps(len(entries)); err != nil {
		return nil, fmt.Errorf("bpf maps: %w", err)
	}
	for _, e := range entries {
		if !e.From.Addr().Is4() || !e.To.Addr().Is4() {
			return nil, fmt.Errorf("rewrite %s to %s: IPv4 only", e.From, e.To)
		}
		k := rewriteKey{Cookie: cookie, IP: e.From.Addr().As4()}
		binary.BigEndian.PutUint16(k.Port[:], e.From.Port())
		v := rewriteValue{IP: e.To.Addr().As4()}
		binary.BigEndian.PutUint16(v.Port[:], e.To.Port())
		if err := r.ports.Put(k, v); err != nil {
			return nil, fmt.Errorf("bpf map: %w", err)
		}
	}
	// connect4 last, once what follows a rewrite is there (Close detaches it first).
	specs := []*ebpf.ProgramSpec{getpeernameProgram(r.reverse)}
	if failed != nil {
		if r.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "confine_pubfail", Type: ebpf.RingBuf, MaxEntries: 1 << 16}); err != nil {
			return nil, fmt.Errorf("bpf ring buffer: %w", err)
		}
		if r.failures, err = ringbuf.NewReader(r.events); err != nil {
			return nil, fmt.Errorf("bpf ring buffer: %w", err)
		}
		specs = append(specs, failedProgram(r.reverse, r.events))
	}
	specs = append(specs, connectProgram(r.ports, r.reverse))
	for _, spec := range specs {
		if err := r.attach(spec); err != nil {
			return nil, err
		}
	}
	if failed != nil {
		r.read = make(chan struct{})
		go r.readFailures(entries, failed)
	}
	return r, nil
}

// readFailures hands each failure event to failed until the reader is closed.
func (r *Rewrite) readFailures(entries []RewriteEntry, failed func(RewriteFailure)) {
	defer close(r.read)
	to := map[netip.AddrPort]netip.AddrPort{}
	for _, e := range entries {
		to[e.From] = e.To
	}
	for {
		rec, err := r.failures.Read()
		if err != nil {
			return
		}
		var ev rewriteFailure
		if _, err := binary.Decode(rec.RawSample, binary.NativeEndian, &ev); err != nil {
			continue
		}
		from := netip.AddrPortFrom(netip.AddrFrom4(ev.IP), binary.BigEndian.Uint16(ev.Port[:]))
		failed(RewriteFailure{RewriteEntry: RewriteEntry{From: from, To: to[from]}, LocalPort: uint16(ev.LocalPort), Retransmits: ev.Retransmits})
	}
}

// attach loads spec and links it at the root. A link, not a legacy attachment (which
// outlives its process): link.AttachCgroup falls back to one only where the kernel has
// no cgroup bpf_link (before Linux 5.7), and then this refuses.
func (r *Rewrite) attach(spec *ebpf.ProgramSpec) error {
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return fmt.Errorf("bpf program %s: %w", spec.Name, err)
	}
	r.progs = append(r.progs, prog)
	l, err := link.AttachCgroup(link.CgroupOptions{Path: r.Root, Attach: spec.AttachType, Program: prog})
	if err != nil {
		return fmt.Errorf("attach %s to %s: %w", spec.Name, r.Root, err)
	}
	r.links = append(r.links, l)
	if _, err := l.Info(); err != nil {
		return fmt.Errorf("attach %s to %s: not a bpf_link (%w)", spec.Name, r.Root, err)
	}
	return nil
}

// LinkIDs are the kernel's ids of the links, for events and tests.
func (r *Rewrite) LinkIDs() []uint32 {
	var ids []uint32
	for _, l := range r.links {
		if info, err := l.Info(); err == nil {
			ids = append(ids, uint32(info.ID))
		}
	}
	return ids
}

// Close detaches the programs and frees them and the maps. Safe on nil and twice.
func (r *Rewrite) Close() error {
	if r == nil {
		return nil
	}
	var errs []error
	for i := len(r.links) - 1; i >= 0; i-- { // connect4 first: no more rewrites
		errs = append(errs, r.links[i].Close())
	}
	if r.failures != nil {
		errs = append(errs, r.failures.Close())
		if r.read != nil {
			<-r.read // failed is not called after Close
		}
	}
	for _, p := range r.progs {
		errs = append(errs, p.Close())
	}
	for _, m := range []*ebpf.Map{r.ports, r.reverse, r.events} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	r.links, r.progs, r.ports, r.reverse, r.events, r.failures, r.read = nil, nil, nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// cgroup2Root is the mount point of the cgroup v2 hierarchy's root in the calling
// process's mount namespace (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
// host). A program linked there runs for every socket of the machine: the map's netns
// cookie keeps it to one namespace. Links at a cgroup are multi-attach, so others'
// programs (systemd's, other stacks') stay and run too.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || !strings.HasPrefix(post, "cgroup2 ") || fields[3] != "/" {
			continue
		}
		return unescapeMount(fields[4]), nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup2 mount of the hierarchy's root in /proc/self/mountinfo")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// netnsCookieValue is SO_NETNS_COOKIE of a socket of the calling thread's namespace,
// what bpf_get_netns_cookie gives the programs for the namespace's sockets (Linux 5.14).
func netnsCookieValue() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
}
