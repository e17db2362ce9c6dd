package supervisor

import (
	"fmt"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
)

// EventSuppressed reports drops that the firewall's log limit kept out of the log
// (netfilter.LogRate per drop rule): dropped all the same, counted, not itemised, so
// that a flood of undeclared connections shows as one record per chain and interval.
const EventSuppressed = audit.KindSuppressed

// SuppressedDetails are the details of an EventSuppressed for a LogRecord with
// Suppressed set; where names the table's place ("uplink " for the host's).
func SuppressedDetails(where string, rec netfilter.LogRecord) map[string]any {
	chain, _ := netfilter.LogChain(rec.Prefix)
	return map[string]any{
		audit.DetailLayer: audit.LayerNetwork, "chain": where + chain, "suppressed": rec.Suppressed,
		"limit": netfilter.LogLimit,
		audit.DetailReason: fmt.Sprintf("%d more packets were dropped by %s%s than logged: each drop rule logs at most %d a second (burst %d); the rest are dropped unlogged and counted here",
			rec.Suppressed, where, chain, netfilter.LogRate, netfilter.LogBurst),
	}
}
