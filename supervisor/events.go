package supervisor

import (
	"sync"
	"time"
)

// Event is one thing that happened in the stack: a lifecycle change, a health change, the
// enforcement applied, or a denial. Its shape is the audit log's record (audit.Record
// without the chain): what happened (Kind), to which component, and the details.
type Event struct {
	Seq       uint64         `json:"seq"`
	Time      time.Time      `json:"time"`
	Stack     string         `json:"stack"`
	Component string         `json:"component,omitempty"`
	Kind      string         `json:"kind"`
	Details   map[string]any `json:"details,omitempty"`
}

// Event kinds.
const (
	EventStackUp   = "stack.up"
	EventStackDown = "stack.down"
	EventStart     = "component.start"
	EventStartFail = "component.start_failed"
	EventExit      = "component.exit"
	EventRestart   = "component.restart"
	EventPause     = "component.pause"
	EventUnpause   = "component.unpause"
	EventHealth    = "component.health"
	// EventPolicy records the policy and the enforcement applied to a run, before its start.
	EventPolicy = "policy.applied"
	// EventDenial is one refusal by seccomp, Landlock or a firewall, with what decided it
	// (audit.Attributor).
	EventDenial = "denial"
	// EventLost says a denial reader lost records (its socket overflowed, or the kernel's
	// audit backlog did).
	EventLost = "audit.lost"
)

// historySize bounds the events kept for `confine events` without --follow.
const historySize = 10000

// bus keeps recent events and hands new ones to subscribers. A subscriber too slow to
// keep up loses events rather than stalling the supervisor; the stream says how many.
type bus struct {
	mu      sync.Mutex
	stack   string
	seq     uint64
	history []Event
	subs    map[chan Event]struct{}
	sink    func(Event)
}

func newBus(stack string, sink func(Event)) *bus {
	return &bus{stack: stack, subs: map[chan Event]struct{}{}, sink: sink}
}

func (b *bus) emit(component, kind string, details map[string]any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e := Event{Seq: b.seq, Time: time.Now().UTC(), Stack: b.stack, Component: component, Kind: kind, Details: details}
	if len(b.history) == historySize {
		b.history = b.history[1:]
	}
	b.history = append(b.history, e)
	if b.sink != nil {
		b.sink(e)
	}
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // dropped for this subscriber only; Seq shows the gap
		}
	}
}

// subscribe returns the history so far and a channel of what follows, atomically.
func (b *bus) subscribe() ([]Event, chan Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan Event, 1024)
	b.subs[ch] = struct{}{}
	return append([]Event(nil), b.history...), ch
}

func (b *bus) unsubscribe(ch chan Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, ch)
}
