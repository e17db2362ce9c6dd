package netfilter

import (
	"fmt"
	"time"
)

// Every drop that is logged is one NFLOG message to the supervisor and one denial in
// the audit log: a component that floods undeclared destinations would flood both. So
// each drop rule logs at most LogRate packets a second (LogBurst at once) and a second
// rule after it drops the rest unlogged and counts them; the drop itself never depends
// on the limit. A flood to one destination would use up the limit and hide an attempt
// to another, so in front of the limit the first packet of each flow key (saddr .
// daddr . proto . dport) is logged once per SeenTimeout, its key kept in the chain's
// seen set of at most SeenSize keys; once that is full, new keys meet the limit. A LogReader told the table (CountSuppressed) reads those counters and
// reports what they gained as records with Suppressed set, every suppressedEvery
// while records come and once more at Close.
const (
	LogRate  = 20 // packets a second per drop rule
	LogBurst = 40

	// SuppressedPrefix opens the comment of a chain's counting rule: "confine-suppressed CHAIN".
	SuppressedPrefix = "confine-suppressed "

	suppressedEvery = 5 * time.Second

	SeenTimeout = 60 * time.Second // a logged key's window
	SeenSize    = 4096             // keys in a chain's seen set

	// SeenPrefix opens the name of a chain's seen set: "seen_CHAIN".
	SeenPrefix = "seen_"
)

// LogLimit is the limit in front of each drop rule's log, as nft writes it.
var LogLimit = fmt.Sprintf("limit rate %d/second burst %d packets", LogRate, LogBurst)
