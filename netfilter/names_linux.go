package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// NameElement is one answer of the stack's resolver as a names-set element: Src may
// reach Dst with Proto on a port in [First, Last].
type NameElement struct {
	Src, Dst    netip.Addr
	Proto       string
	First, Last uint16
}

// PinNames adds elems to the names set of table in the namespace at nsPath, each for
// ttl: the kernel removes them when it ends, even if confine dies first. An element
// pinned before is renewed, so it never lapses.
//
// Any transaction that deletes an element, or fails, waits for an RCU grace period in
// the kernel (7-22 ms measured on Linux 6.18, against 0.3 ms for one that only adds:
// docs/BENCHMARKS.md, "10 and 10,000 declared names"), and every answer is pinned
// before it is sent; and each transaction costs in the set's size (the kernel copies a
// concatenated interval set's lookup data to change it). So where the kernel renews an
// element that is added again (renewByAdd) a pin is one add, and deleting is left to
// kernels without it.
func PinNames(nsPath, table, set string, elems []NameElement, ttl time.Duration) error {
	if len(elems) == 0 {
		return nil
	}
	s := &nftables.Set{
		Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: table}, Name: set,
		Interval: true, Concatenation: true, HasTimeout: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService),
	}
	var add []nftables.SetElement
	for _, e := range elems {
		p := protoNumber(e.Proto)
		// names sets are egress sets (a component's output chain, the bridge's
		// forward chain, a lone run's host table): keyed destination first, as
		// DstFirst says
		add = append(add, nftables.SetElement{Key: key(e.Dst, e.Src, p, e.First), KeyEnd: key(e.Dst, e.Src, p, e.Last), Timeout: ttl})
	}
	add = dedupe(add)
	try := func(elems []nftables.SetElement, renew bool) error {
		conn, closeNS, err := connect(nsPath)
		if err != nil {
			return err
		}
		defer closeNS()
		if renew {
			err = renewByDelete(conn, s, elems)
		} else {
			err = addElementsChunked(conn, s, elems)
		}
		if err != nil {
			return err
		}
		return conn.Flush()
	}
	pin := func(elems []nftables.SetElement) error {
		if renewByAdd() {
			// The kernel renews an element added again only if the timeout
			// differs from the one it holds (nft_add_set_elem): one add, with a
			// timeout other than the one this process last gave the element.
			elems = lastPinned.differ(nsPath, table, set, elems)
			if err := try(elems, false); err != nil {
				return err
			}
			lastPinned.record(nsPath, table, set, elems)
			return nil
		}
		// Renewing by delete fails (ENOENT) when any element is new or has
		// expired; then they are all new, and a plain add does.
		if err := try(elems, true); err == nil {
			return nil
		}
		return try(elems, false)
	}
	if err := pin(add); err == nil {
		return nil
	}
	// One by one: an element that overlaps one pinned for another name of the same
	// address (EEXIST) is already let through by it, for that one's TTL.
	for _, e := range add {
		if err := pin([]nftables.SetElement{e}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("nftables: pinning names into %s %s: %w", table, set, err)
		}
	}
	return nil
}

// renewByDelete deletes elems and adds them again in the caller's transaction.
func renewByDelete(conn *nftables.Conn, s *nftables.Set, elems []nftables.SetElement) error {
	del := make([]nftables.SetElement, len(elems))
	for i, e := range elems {
		del[i] = nftables.SetElement{Key: e.Key, KeyEnd: e.KeyEnd}
	}
	if err := conn.SetDeleteElements(s, del); err != nil {
		return err
	}
	return addElementsChunked(conn, s, elems)
}

// renewByAdd reports whether the kernel renews an element's timeout when it is added
// again with a different one: since Linux 6.12, commit 4201f3938914 ("netfilter:
// nf_tables: set element timeout update support"); before it the add succeeds and
// changes nothing. By the release: a backport only costs the slower renewal.
var renewByAdd = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	major, minor, ok := kernelRelease(unix.ByteSliceToString(u.Release[:]))
	return ok && (major > 6 || major == 6 && minor >= 12)
})

// kernelRelease parses "6.18.44-fc" as 6, 18.
func kernelRelease(r string) (major, minor int, ok bool) {
	a, rest, _ := strings.Cut(r, ".")
	b, _, _ := strings.Cut(rest, ".")
	b, _, _ = strings.Cut(b, "-")
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil
}

// pinTimeouts remembers, for each element this process pinned, the timeout it gave it
// and until when, so that the next pin can pick another: each resolver is the only one
// that pins into its tables. An element it does not know is new (or expired, which the
// kernel treats as absent), and a plain add creates it.
type pinTimeouts struct {
	mu sync.Mutex
	m  map[string]pinnedAt
	n  int // records since the last sweep
}

type pinnedAt struct {
	timeout time.Duration
	until   time.Time
}

var lastPinned = &pinTimeouts{m: map[string]pinnedAt{}}

func pinID(nsPath, table, set string, e nftables.SetElement) string {
	return nsPath + "\x00" + table + "\x00" + set + "\x00" + string(e.Key) + string(e.KeyEnd)
}

// differ returns elems with each timeout a second longer where it equals the one the
// element was last pinned with.
func (p *pinTimeouts) differ(nsPath, table, set string, elems []nftables.SetElement) []nftables.SetElement {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]nftables.SetElement, len(elems))
	for i, e := range elems {
		out[i] = e
		if last, ok := p.m[pinID(nsPath, table, set, e)]; ok && last.timeout == e.Timeout {
			out[i].Timeout += time.Second
		}
	}
	return out
}

// record notes what was pinned; now and then it forgets elements the kernel has
// removed, well after their end.
func (p *pinTimeouts) record(nsPath, table, set string, elems []nftables.SetElement) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, e := range elems {
		p.m[pinID(nsPath, table, set, e)] = pinnedAt{e.Timeout, now.Add(e.Timeout)}
	}
	if p.n += len(elems); p.n < 4096 {
		return
	}
	p.n = 0
	for k, v := range p.m {
		if now.After(v.until.Add(time.Minute)) {
			delete(p.m, k)
		}
	}
}
