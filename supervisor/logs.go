package supervisor

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"
)

// LogLine is one line a component wrote, as stored in its log file (JSON Lines).
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"` // stdout or stderr
	Line   string    `json:"line"`
}

// logBook is a component's log: a file in the stack's state directory, across restarts,
// and a signal for followers.
type logBook struct {
	mu      sync.Mutex
	file    *os.File
	path    string
	size    int64
	changed chan struct{} // closed and replaced on every line
	echo    func(LogLine) // the foreground supervisor's terminal, or nil
}

func openLogBook(path string, echo func(LogLine)) (*logBook, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, _ := f.Stat()
	return &logBook{file: f, path: path, size: fi.Size(), changed: make(chan struct{}), echo: echo}, nil
}

// maxLogSize caps a log file (kept on disk, or in /run's memory without an audit log). Past it the file becomes NAME.log.1 (the
// one before is dropped) and a new one starts, as Docker's max-size and max-file do.
const maxLogSize = 8 << 20

func (l *logBook) add(stream, line string) {
	rec := LogLine{Time: time.Now().UTC(), Stream: stream, Line: line}
	data, _ := json.Marshal(rec)
	l.mu.Lock()
	if l.size+int64(len(data)) >= maxLogSize {
		l.rotate()
	}
	n, _ := l.file.Write(append(data, '\n'))
	l.size += int64(n)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if l.echo != nil {
		l.echo(rec)
	}
}

// rotate moves the full file aside; l.mu is held.
func (l *logBook) rotate() {
	l.file.Close()
	os.Rename(l.path, l.path+".1")
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		f, _ = os.Open(os.DevNull)
	}
	l.file, l.size = f, 0
}

// wait returns a channel closed at the next line.
func (l *logBook) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

func (l *logBook) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.file.Close()
}

// writer returns an io.Writer for one stream that cuts what it is given into lines.
func (l *logBook) writer(stream string) io.Writer { return &lineWriter{book: l, stream: stream} }

// maxLine cuts runaway lines, so a component cannot make the supervisor buffer without end.
const maxLine = 16 << 10

type lineWriter struct {
	book   *logBook
	stream string
	buf    []byte
}

// ReadFrom copies a component's stream (os/exec's pipe) through a small buffer: without
// it io.Copy holds 32 KiB per stream for the component's life, twice per component. At
// the stream's end it logs what is left of a last line.
func (w *lineWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 4<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			w.Write(buf[:k])
			n += int64(k)
		}
		if err == io.EOF {
			// The stream is over: its last line has no newline but is a line.
			if len(w.buf) > 0 {
				w.book.add(w.stream, string(w.buf))
				w.buf = nil
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.book.add(w.stream, string(w.buf[:maxLine]))
				w.buf = w.buf[maxLine:]
				continue
			}
			return len(p), nil
		}
		w.book.add(w.stream, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
