//go:build !confine_slim

package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/confine-sandbox/confine/image"
)

// pullProgress is an image.Progress the command waits for before it prints its result.
type pullProgress interface {
	image.Progress
	wait()
}

// newProgress draws bars on a terminal, plain lines elsewhere, nothing when quiet.
func newProgress(w io.Writer, quiet bool) pullProgress {
	switch {
	case quiet:
		return quietProgress{}
	case isTerminal(w):
		return &barProgress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))}
	}
	return &lineProgress{w: w}
}

type quietProgress struct{}

func (quietProgress) Layer(string, int64) (func(int), func(error)) { return nil, func(error) {} }
func (quietProgress) Exists(string)                                {}
func (quietProgress) Note(string, string)                          {}
func (quietProgress) wait()                                        {}

// lineProgress writes one line per layer event (logs, CI, pipes).
type lineProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineProgress) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

func (l *lineProgress) Layer(id string, total int64) (func(int), func(error)) {
	l.printf("%s: pulling (%s)\n", id, humanBytes(total))
	return nil, func(err error) {
		if err != nil {
			l.printf("%s: failed\n", id)
			return
		}
		l.printf("%s: done\n", id)
	}
}

func (l *lineProgress) Exists(id string)    { l.printf("%s: already in the store\n", id) }
func (l *lineProgress) Note(id, msg string) { l.printf("%s: note: %s\n", id, msg) }
func (l *lineProgress) wait()               {}

// barProgress draws one mpb bar per layer.
type barProgress struct {
	p *mpb.Progress
}

func (b *barProgress) Layer(id string, total int64) (func(int), func(error)) {
	bar := b.p.AddBar(max(total, 0), mpb.PrependDecorators(decor.Name(id+" ")),
		mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")))
	return bar.IncrBy, func(err error) {
		if err != nil {
			bar.Abort(false)
			return
		}
		bar.SetTotal(-1, true)
	}
}

func (b *barProgress) Exists(id string)    { fmt.Fprintf(b.p, "%s: already in the store\n", id) }
func (b *barProgress) Note(id, msg string) { fmt.Fprintf(b.p, "%s: note: %s\n", id, msg) }
func (b *barProgress) wait()               { b.p.Wait() }
