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
	changed chan struct{} // closed and replaced on every line
	echo    func(LogLine) // the foreground supervisor's terminal, or nil
}

func openLogBook(path string, echo func(LogLine)) (*logBook, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &logBook{file: f, path: path, changed: make(chan struct{}), echo: echo}, nil
}

func (l *logBook) add(stream, line string) {
	rec := LogLine{Time: time.Now().UTC(), Stream: stream, Line: line}
	data, _ := json.Marshal(rec)
	l.mu.Lock()
	l.file.Write(append(data, '\n'))
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if l.echo != nil {
		l.echo(rec)
	}
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
