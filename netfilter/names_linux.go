package netfilter

import (
	"errors"
	"fmt"
	"net/netip"
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
// pinned before is renewed (deleted and added in one transaction, so it never lapses).
func PinNames(nsPath, table, set string, elems []NameElement, ttl time.Duration) error {
	if len(elems) == 0 {
		return nil
	}
	s := &nftables.Set{
		Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: table}, Name: set,
		Interval: true, Concatenation: true, HasTimeout: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService),
	}
	var add, del []nftables.SetElement
	for _, e := range elems {
		p := protoNumber(e.Proto)
		// names sets are egress sets (a component's output chain, the bridge's
		// forward chain, a lone run's host table): keyed destination first, as
		// DstFirst says
		k, end := key(e.Dst, e.Src, p, e.First), key(e.Dst, e.Src, p, e.Last)
		add = append(add, nftables.SetElement{Key: k, KeyEnd: end, Timeout: ttl})
		del = append(del, nftables.SetElement{Key: k, KeyEnd: end})
	}
	add = dedupe(add)
	try := func(renew bool) error {
		conn, closeNS, err := connect(nsPath)
		if err != nil {
			return err
		}
		defer closeNS()
		if renew {
			if err := conn.SetDeleteElements(s, dedupe(del)); err != nil {
				return err
			}
		}
		if err := addElementsChunked(conn, s, add); err != nil {
			return err
		}
		return conn.Flush()
	}
	// Renewing fails (ENOENT) when any element is new or has expired; then they are
	// all new, and a plain add does.
	if err := try(true); err == nil {
		return nil
	}
	if err := try(false); err == nil {
		return nil
	}
	// One by one: an element that overlaps one pinned for another name of the same
	// address (EEXIST) is already let through by it, for that one's TTL.
	all := add
	for _, e := range all {
		add = []nftables.SetElement{e}
		if err := try(false); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("nftables: pinning names into %s %s: %w", table, set, err)
		}
	}
	return nil
}
