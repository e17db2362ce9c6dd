package main

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
)

// forwarder forwards SIGINT, SIGTERM and SIGHUP to the component once it runs. Its
// signal.Notify runs beside the start, not after it: the first call starts a thread of
// the runtime's (0.15-0.3 ms measured, docs/BENCHMARKS.md session 21).
type forwarder struct {
	ch    chan os.Signal
	sb    atomic.Pointer[sandbox.Sandbox]
	ready chan struct{} // closed once Notify is done
}

// forwardSignals starts the forwarding; until to, a signal has its own action, as it
// had before any Notify (the run ends by it, its start half made: the sweeps take that).
func forwardSignals(grace time.Duration) *forwarder {
	f := &forwarder{ch: make(chan os.Signal, 4), ready: make(chan struct{})}
	go func() {
		signal.Notify(f.ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		close(f.ready)
		for s := range f.ch {
			sb := f.sb.Load()
			if sb == nil {
				signal.Reset(s) // the disposition the run started with: default, or ignored
				syscall.Kill(os.Getpid(), s.(syscall.Signal))
				continue
			}
			sb.Signal(s)
			// The component is pid 1 of its namespace, where a signal it has no handler
			// for is ignored: after a grace period, as docker stop does, kill it.
			time.AfterFunc(grace, func() { sb.Signal(syscall.SIGKILL) })
		}
	}()
	return f
}

// to makes sb the receiver of the signals from now on.
func (f *forwarder) to(sb *sandbox.Sandbox) { f.sb.Store(sb) }

// stop ends the forwarding.
func (f *forwarder) stop() {
	<-f.ready
	signal.Stop(f.ch)
}
