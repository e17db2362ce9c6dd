package sandbox

import (
	"fmt"
	"reflect"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// firewallAhead is a firewall loaded into the network namespace of the spare a spawner
// holds, before the request that takes it: the lone run's spare exists from the C
// constructor on, so its table loads beside preflight, the ids, the render and the
// spawn, instead of after them. The request then names that spare (spawnRequest.spare),
// and the spawner refuses it when it holds another or none: the init stage runs in that
// namespace or the table is loaded again, after the start, in its own.
type firewallAhead struct {
	pid  int
	fw   plan.Firewall
	done chan struct{} // closed once err is final
	err  error
}

// LoadFirewallAhead loads fw into the network namespace of the spare sp holds now, in
// the background, for its next start (Start takes it when its component's firewall is
// fw, and it is the parent's to load). It does nothing without a spare announced yet.
// The spare is this process's child, unreaped until its start or sp's Close, so its pid
// names it throughout.
func (sp *Spawner) LoadFirewallAhead(fw plan.Firewall) {
	if sp == nil || sp.ahead != nil {
		return
	}
	pid := sp.Spare()
	if pid <= 0 {
		return
	}
	a := &firewallAhead{pid: pid, fw: fw, done: make(chan struct{})}
	sp.ahead = a
	go func() {
		defer close(a.done)
		t := trace.Now()
		a.err = netfilter.ApplyNew(fmt.Sprintf("/proc/%d/ns/net", pid), fw) // a spare's namespace: no table yet
		trace.Done("parent", "nftables_ahead", t)
	}()
}

// takeFirewallAhead returns the firewall sp loaded ahead when it is fw, and forgets it:
// one start takes it, or none.
func (sp *Spawner) takeFirewallAhead(fw plan.Firewall) *firewallAhead {
	if sp == nil || sp.ahead == nil {
		return nil
	}
	a := sp.ahead
	sp.ahead = nil
	if !reflect.DeepEqual(a.fw, fw) {
		sp.dropped = a
		return nil
	}
	return a
}

// wait returns the load's error once it is over.
func (a *firewallAhead) wait() error {
	<-a.done
	return a.err
}
