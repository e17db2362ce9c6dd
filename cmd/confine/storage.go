package main

import (
	"sync"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// storeFlag is the global --store; CONFINE_STORE stands in when it is not given.
var storeFlag string

func addStoreFlag(root *cobra.Command) {
	root.PersistentFlags().StringVar(&storeFlag, "store", "", "image store `DIR` (default $CONFINE_STORE, else /var/lib/confine as root)")
}

// needsStore reports whether c runs on the image store: an image's overlay or a volume.
func needsStore(c *plan.Component) bool {
	for _, m := range c.Mounts {
		if m.Type == "overlay" || m.Type == "volume" {
			return true
		}
	}
	return false
}

// hasVolume: c mounts a volume, which its storage makes when it is not there yet.
func hasVolume(c *plan.Component) bool {
	for _, m := range c.Mounts {
		if m.Type == "volume" {
			return true
		}
	}
	return false
}

// storage is the image store's part of one run (its image's upper, its volumes), readied
// on another goroutine beside the start (readyStorage), which waits for it only where it
// makes the image's mounts (sandbox.Options.Storage). A nil storage is a run without one.
type storage struct {
	done    chan struct{}
	opts    sandbox.Options // Image and Volumes, as prepare set them
	undo    func()
	err     error
	release func() // once: waits, then undoes what prepare made
}

// readyStorage runs prepare (supervisor.PrepareStorage's signature) beside the caller.
func readyStorage(prepare func(*sandbox.Options) (func(), error)) *storage {
	s := &storage{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.undo, s.err = prepare(&s.opts)
	}()
	s.release = sync.OnceFunc(func() {
		if s.wait() == nil && s.undo != nil {
			s.undo()
		}
	})
	return s
}

// wait waits for prepare and returns its error.
func (s *storage) wait() error {
	if s == nil {
		return nil
	}
	<-s.done
	return s.err
}

// into has the start of opts wait for s (nothing for a nil s).
func (s *storage) into(opts *sandbox.Options) {
	if s == nil {
		return
	}
	opts.Storage = func() (*sandbox.ImageRoot, map[string]string, error) {
		if err := s.wait(); err != nil {
			return nil, nil, err
		}
		return s.opts.Image, s.opts.Volumes, nil
	}
}

// close removes the run's upper and lets its volumes go, once the run has ended; a
// second call does nothing.
func (s *storage) close() {
	if s != nil {
		s.release()
	}
}
