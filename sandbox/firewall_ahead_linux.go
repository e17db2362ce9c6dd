package sandbox

import (
	"reflect"
	"time"

	"golang.org/x/sys/unix"

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
	fw    plan.Firewall
	found chan struct{} // closed once pid is set: the spare's, or 0 for none
	pid   int
	done  chan struct{} // closed once err is final
	err   error
}

// spareWait bounds the wait for the spare's notice. The spawner clones its spare before
// it reads a request, so a request would wait for that clone anyway; a spawner whose
// clone failed announces none, and the start then goes on without the load ahead.
const spareWait = 20 * time.Millisecond

// LoadFirewallAhead loads fw into the network namespace of the spare sp holds (or
// announces within spareWait), in the background, for its next start: Start takes it
// when its component's firewall is fw and the parent's to load. The spare is this
// process's child, unreaped until its start or sp's Close, so its pid names it
// throughout.
func (sp *Spawner) LoadFirewallAhead(fw plan.Firewall) {
	if sp == nil || sp.ahead != nil {
		return
	}
	a := &firewallAhead{fw: fw, found: make(chan struct{}), done: make(chan struct{})}
	sp.ahead = a
	// Announced already, as a rule (the early spawner clones it before main): the start
	// then names it without waiting for this goroutine to get a core, which on two busy
	// cores took it up to half a millisecond after the start was ready to send.
	known := false
	if a.pid = sp.Spare(); a.pid > 0 {
		known = true
		close(a.found)
	}
	go func() {
		defer close(a.done)
		if !known {
			a.pid = sp.waitSpare(spareWait)
			close(a.found)
		}
		if a.pid <= 0 {
			return
		}
		t := trace.Now()
		a.err = netfilter.ApplyNewPid(a.pid, fw) // a spare's namespace: no table yet
		trace.Done("parent", "nftables_ahead", t)
	}()
}

// waitSpare is the spare's pid once the spawner has announced it, or 0 after d or
// when the spawner is gone. Only Start reads the socket meanwhile, after found.
func (sp *Spawner) waitSpare(d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		if pid := sp.Spare(); pid > 0 {
			return pid
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0
		}
		fds := []unix.PollFd{{Fd: int32(sp.sock.Fd()), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 || fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return sp.Spare()
		}
	}
}

// takeFirewallAhead returns the firewall sp loaded ahead when it is fw, and forgets it:
// one start takes it, or none.
func (sp *Spawner) takeFirewallAhead(fw plan.Firewall) *firewallAhead {
	if sp == nil || sp.ahead == nil {
		return nil
	}
	a := sp.ahead
	sp.ahead = nil
	if <-a.found; a.pid <= 0 || !reflect.DeepEqual(a.fw, fw) {
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
