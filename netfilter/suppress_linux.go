package netfilter

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
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

// dropLogged adds to c the drop of match's packets, logged under prefix at most at
// LogRate, then the unlogged drop that counts the rest.
func dropLogged(conn *nftables.Conn, c *nftables.Chain, match []expr.Any, group uint16, prefix string) {
	rule(conn, c, match, logDrop(group, prefix))
	chain, _ := LogChain(prefix)
	conn.AddRule(suppressedRule(c.Table, c, chain, match))
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
