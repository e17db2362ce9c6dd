package netfilter

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

func logLimit() *expr.Limit {
	return &expr.Limit{Type: expr.LimitTypePkts, Rate: LogRate, Unit: expr.LimitTimeSecond, Burst: LogBurst}
}

// suppressedRule is the rule after a chain's logged drop: match's packets that the
// limit kept from the log, counted and dropped.
func suppressedRule(t *nftables.Table, c *nftables.Chain, chain string, match []expr.Any) *nftables.Rule {
	exprs := append(append([]expr.Any{}, match...), &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	return &nftables.Rule{Table: t, Chain: c, Exprs: exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, SuppressedPrefix+chain)}
}

// dropLogged adds to c the drop of match's packets: the first of each flow key in
// seen's window logged under prefix (seenRule; none when seen is nil), then at most
// LogRate logged, then the unlogged drop that counts the rest.
func dropLogged(conn *nftables.Conn, c *nftables.Chain, seen *nftables.Set, match []expr.Any, group uint16, prefix string) {
	if seen != nil {
		conn.AddRule(&nftables.Rule{Table: c.Table, Chain: c, Exprs: seenRule(seen, match, group, prefix)})
	}
	rule(conn, c, match, logDrop(group, prefix))
	chain, _ := LogChain(prefix)
	conn.AddRule(suppressedRule(c.Table, c, chain, match))
}

// addSeenSet adds to t the seen set of the drops logged as chain: the flow keys
// logged in the last SeenTimeout, at most SeenSize of them.
func addSeenSet(conn *nftables.Conn, t *nftables.Table, chain string) (*nftables.Set, error) {
	s := &nftables.Set{Table: t, Name: SeenPrefix + replaceHyphens(chain), Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService),
		Dynamic: true, HasTimeout: true, Timeout: SeenTimeout, Size: SeenSize}
	if err := addSet(conn, s, nil); err != nil {
		return nil, fmt.Errorf("nftables: set %s: %w", s.Name, err)
	}
	return s, nil
}

// seenRule logs and drops match's IPv4 packets whose key is not in seen, adding it:
// a key seen already fails the lookup, and a full set fails the add, so either goes
// on to the limited log. nft writes it "KEY != @seen add @seen { KEY } ... drop" and
// loads the key twice; here it is loaded once, as the lookup writes no register, and
// nft lists the rule the same (tests/nft): eight expressions fewer for the kernel to
// look up by name and echo back on every load.
func seenRule(seen *nftables.Set, match []expr.Any, group uint16, prefix string) []expr.Any {
	key := []expr.Any{
		&expr.Payload{DestRegister: regSrc, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: regDst, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regProto},
		&expr.Payload{DestRegister: regPort, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
	return slices.Concat(match, ipv4(), key,
		[]expr.Any{
			&expr.Lookup{SourceRegister: regSrc, SetName: seen.Name, SetID: seen.ID, Invert: true},
			&expr.Dynset{SrcRegKey: regSrc, SetName: seen.Name, SetID: seen.ID, Operation: uint32(unix.NFT_DYNSET_OP_ADD)},
			&expr.Counter{},
			&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX, Group: group, Data: []byte(prefix)},
			&expr.Verdict{Kind: expr.VerdictDrop},
		})
}

// suppressWatch reads a table's counting rules for a LogReader.
type suppressWatch struct {
	mu    sync.Mutex
	conn  *nftables.Conn
	close func()
	table *nftables.Table
	seen  map[ruleID]uint64 // each counting rule's packets at the last read
	next  time.Time
}

// CountSuppressed makes r report the drops that table's rules in r's namespace did
// not log, as records with Suppressed set. Call it before the first Next.
func (r *LogReader) CountSuppressed(table string) error {
	conn, closeNS, err := connect(r.nsPath)
	if err != nil {
		return fmt.Errorf("nflog: %w", err)
	}
	r.watch = &suppressWatch{conn: conn, close: closeNS, seen: map[ruleID]uint64{},
		table: &nftables.Table{Family: nftables.TableFamilyINet, Name: table}, next: time.Now().Add(suppressedEvery)}
	return nil
}

// ruleID is one counting rule: a chain may have several under one name (a lone run's
// spoofed drops, one for IPv4 and one for the rest), each with its own counter.
type ruleID struct {
	chain  string
	handle uint64
}

// gained returns a record for each chain whose counting rules counted more than at the
// last read; nothing when the table is gone.
func (w *suppressWatch) gained() []LogRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	w.next = time.Now().Add(suppressedEvery)
	chains, err := w.conn.ListChainsOfTableFamily(w.table.Family)
	if err != nil {
		return nil
	}
	var order []string
	gain := map[string]uint64{}
	for _, c := range chains {
		if c.Table.Name != w.table.Name {
			continue
		}
		rules, err := w.conn.GetRules(w.table, c)
		if err != nil {
			continue
		}
		for _, rl := range rules {
			comment, _ := userdata.GetString(rl.UserData, userdata.TypeComment)
			chain, ok := strings.CutPrefix(comment, SuppressedPrefix)
			if !ok {
				continue
			}
			id, n := ruleID{c.Name + "\x00" + chain, rl.Handle}, packets(rl)
			if n > w.seen[id] {
				if _, ok := gain[chain]; !ok {
					order = append(order, chain)
				}
				gain[chain] += n - w.seen[id]
			}
			w.seen[id] = n
		}
	}
	var out []LogRecord
	for _, chain := range order {
		out = append(out, LogRecord{Time: time.Now(), Prefix: DropPrefix + chain + ": ", Suppressed: gain[chain]})
	}
	return out
}

func packets(r *nftables.Rule) uint64 {
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			return c.Packets
		}
	}
	return 0
}

func (w *suppressWatch) due() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

// stop reads the counters a last time and closes the connection.
func (w *suppressWatch) stop() []LogRecord {
	out := w.gained()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn != nil {
		w.close()
		w.conn = nil
	}
	return out
}
