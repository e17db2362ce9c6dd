package audit

// The log on disk is JSON Lines: one Record per line, written by encoding/json, each
// line's Prev the hex SHA-256 of the line before it (without its newline). verify.go
// reads it back.
//
// When records reach the disk. Append returns once the record is in the Writer (and,
// when its buffer fills, in the kernel). Then:
//   - SyncInterval 0: the record is written and fsync'd before Append returns. Appenders
//     that arrive together share one fsync (group commit), so concurrency still pays.
//   - SyncInterval > 0 (the supervisor passes DefaultSyncInterval, 100 ms): a background
//     flusher writes and fsyncs whatever is buffered every SyncInterval, so a crash loses
//     at most the last interval's records. Records whose Kind is listed in SyncKinds are
//     written and fsync'd before their Append returns, as if SyncInterval were 0.
//   - Always: Sync, Close and rotation write and fsync everything appended before them,
//     and the directory is fsync'd after a file is created or renamed.
//
// The zero WriterOptions is the safe one (fsync per record): a caller has to ask for a
// window in which a crash can lose records.
//
// Lines are written whole: the buffer is flushed before a line that would not fit, so a
// reader of a live log sees a partial line only if a write(2) itself was torn.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of WriterOptions.
const (
	DefaultSyncInterval = 100 * time.Millisecond
	DefaultMaxBytes     = 64 << 20
	DefaultKeep         = 5
	// MaxRecordBytes bounds one line; Append refuses a longer record and the readers
	// refuse a longer line.
	MaxRecordBytes = 1 << 20
)

// ErrClosed is returned by a Writer's methods after Close.
var ErrClosed = errors.New("audit: log writer is closed")

// WriterOptions configures OpenWriter. Zero values of MaxBytes and Keep mean their defaults.
type WriterOptions struct {
	// Stack is set on the records the Writer writes itself (open, rotated, close).
	Stack string
	// OpenDetails are the Details of the audit.open record that starts the log, and that
	// marks each restart of the writer: confine's version, the stack, the collectors.
	OpenDetails map[string]any
	// SyncInterval is how long an appended record may stay off the disk: a background
	// flusher writes and fsyncs every SyncInterval. 0 writes and fsyncs every record before
	// Append returns. The supervisor uses DefaultSyncInterval.
	SyncInterval time.Duration
	// SyncKinds are kinds written and fsync'd before Append returns, whatever SyncInterval.
	SyncKinds []string
	// MaxBytes starts a new file once the current one reaches it (it exceeds it by at most
	// one record). Default 64 MiB.
	MaxBytes int64
	// Keep is how many rotated files (path.1 … path.Keep) are kept; older ones are removed.
	// Default 5.
	Keep int
}

// Writer appends records to a hash-chained log. Its methods are safe for concurrent use.
// After a write, fsync or rotation error the Writer is failed: every later call returns
// that error, and what was appended before it stays in the file.
type Writer struct {
	path   string
	opts   WriterOptions
	urgent map[string]bool

	mu     sync.Mutex // guards everything below, up to syncMu
	f      *os.File
	buf    *bufio.Writer
	line   bytes.Buffer
	enc    *json.Encoder // writes into line
	next   uint64        // seq of the next record
	prev   string        // hash of the last line written
	size   int64         // bytes in the current file, buffered ones included
	err    error         // sticky
	closed bool

	syncMu sync.Mutex    // one fsync at a time; taken before mu, never inside it
	synced atomic.Uint64 // every record up to this seq is on disk

	stop, done chan struct{}
}

// OpenWriter opens the log at path for appending, creating it (0600, its directory 0700)
// if missing. A new log starts with an audit.open record whose Prev is GenesisHash. An
// existing log is continued: the next record follows its last line (seq+1, Prev its hash)
// and is an audit.open that says so, so a restarted supervisor extends one chain. A last
// line cut short by a crash is removed first and counted in that record. If path is
// missing but path.1 exists (a crash inside a rotation), the new file starts with the
// audit.rotated record that rotation would have written.
func OpenWriter(path string, opts WriterOptions) (*Writer, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	w := &Writer{path: path, opts: opts, urgent: map[string]bool{}, next: 1, prev: GenesisHash}
	for _, k := range opts.SyncKinds {
		w.urgent[k] = true
	}
	w.enc = json.NewEncoder(&w.line)
	w.enc.SetEscapeHTML(false)
	f, last, torn, err := openForAppend(path)
	if err != nil {
		return nil, err
	}
	w.f, w.buf = f, bufio.NewWriterSize(f, 64<<10)
	if err := w.begin(last, torn); err != nil {
		f.Close()
		return nil, err
	}
	if opts.SyncInterval > 0 {
		w.stop, w.done = make(chan struct{}), make(chan struct{})
		go w.flusher()
	}
	return w, nil
}

// openForAppend opens path for appending, creating it and its directory, after cutting
// off a torn last line (torn bytes). last is the record the log continues from: path's
// last line or, when path holds none, path.1's; nil for a new log.
func openForAppend(path string) (f *os.File, last *tail, torn int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, 0, fmt.Errorf("audit: %w", err)
	}
	if last, torn, err = lastRecord(path); err != nil {
		return nil, nil, 0, err
	}
	if last == nil {
		if last, _, err = lastRecord(path + ".1"); err != nil {
			return nil, nil, 0, err
		}
		if last != nil {
			last.rotated = true
		}
	}
	if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return nil, nil, 0, fmt.Errorf("audit: %w", err)
	}
	if torn > 0 {
		st, err := f.Stat()
		if err == nil {
			err = f.Truncate(st.Size() - torn)
		}
		if err != nil {
			f.Close()
			return nil, nil, 0, fmt.Errorf("audit: %s: removing a cut-short last line: %w", path, err)
		}
	}
	if err := syncDir(path); err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	return f, last, torn, nil
}

// begin writes the first records of this Writer: audit.rotated when the log continues
// from path.1, then audit.open, and syncs them.
func (w *Writer) begin(last *tail, torn int64) error {
	st, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	w.size = st.Size()
	details := map[string]any{}
	for k, v := range w.opts.OpenDetails {
		details[k] = v
	}
	if last != nil {
		w.next, w.prev = last.rec.Seq+1, last.hash
		if last.rotated {
			if _, err := w.writeRotated(filepath.Base(w.path)+".1", last.rec.Seq); err != nil {
				return err
			}
		}
		details["resumed_after_seq"] = last.rec.Seq
		details["previous_closed"] = last.rec.Kind == KindClose
	}
	if torn > 0 {
		details["torn_tail_bytes"] = torn
	}
	if _, err := w.write(Record{Stack: w.opts.Stack, Kind: KindOpen, Details: details}); err != nil {
		return err
	}
	return w.syncLocked()
}

// Append assigns r its Seq, Prev and (if zero) Time, writes it as one line and returns it
// as written. It blocks while the file is written, synced or rotated; it never drops a
// record, and fails only when r cannot be encoded (the log is unchanged) or the Writer
// is failed or closed. With SyncInterval 0, or r.Kind in SyncKinds, the record is on
// disk when Append returns.
func (w *Writer) Append(r Record) (Record, error) {
	w.mu.Lock()
	r, err := w.write(r)
	w.mu.Unlock()
	if err != nil {
		return r, err
	}
	if w.opts.SyncInterval == 0 || w.urgent[r.Kind] {
		return r, w.syncTo(r.Seq)
	}
	return r, nil
}

// Sync writes and fsyncs every record appended so far.
func (w *Writer) Sync() error {
	w.mu.Lock()
	seq := w.next - 1
	w.mu.Unlock()
	return w.syncTo(seq)
}

// Head returns the seq and hash of the last record written: an anchor a reviewer can
// store elsewhere and later hand to Verify.
func (w *Writer) Head() (seq uint64, hash string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next - 1, w.prev
}

// Close appends an audit.close record, writes and fsyncs everything, and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	_, err := w.write(Record{Stack: w.opts.Stack, Kind: KindClose})
	w.closed = true
	w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if serr := w.syncLocked(); err == nil {
		err = serr
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: %w", cerr)
	}
	return err
}

// write encodes r, writes its line and rotates when the file is full. The caller holds mu.
func (w *Writer) write(r Record) (Record, error) {
	if w.closed {
		return r, ErrClosed
	}
	if w.err != nil {
		return r, w.err
	}
	given := r
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	r.Seq, r.Prev = w.next, w.prev
	w.line.Reset()
	if err := w.enc.Encode(r); err != nil {
		return given, fmt.Errorf("audit: %s record: %w", r.Kind, err)
	}
	line := w.line.Bytes() // the JSON and its newline
	if len(line) > MaxRecordBytes {
		return given, fmt.Errorf("audit: %s record: %d bytes, more than %d", r.Kind, len(line), MaxRecordBytes)
	}
	if len(line) > w.buf.Available() && w.buf.Buffered() > 0 {
		if err := w.buf.Flush(); err != nil {
			return r, w.fail(err)
		}
	}
	if _, err := w.buf.Write(line); err != nil {
		return r, w.fail(err)
	}
	sum := sha256.Sum256(line[:len(line)-1])
	w.prev = hex.EncodeToString(sum[:])
	w.next++
	w.size += int64(len(line))
	if w.size >= w.opts.MaxBytes && r.Kind != KindClose && r.Kind != KindRotated {
		if err := w.rotate(); err != nil {
			return r, w.fail(err)
		}
	}
	return r, nil
}

// rotate moves the full file to path.1 (path.1 to path.2, …, dropping path.Keep) and
// starts a new path with an audit.rotated record that continues the chain. The caller
// holds mu. Appenders wait for it: two fsyncs of the files and two of the directory.
func (w *Writer) rotate() error {
	if err := w.syncLocked(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	for _, n := range rotatedNumbers(w.path) { // Keep and above: also any a larger Keep left
		if n >= w.opts.Keep {
			if err := os.Remove(fmt.Sprintf("%s.%d", w.path, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	for i := w.opts.Keep - 1; i >= 1; i-- {
		err := os.Rename(fmt.Sprintf("%s.%d", w.path, i), fmt.Sprintf("%s.%d", w.path, i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	// O_EXCL: path was just renamed away; if it exists, another writer is at work.
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	w.f, w.size = f, 0
	w.buf.Reset(f)
	if err := syncDir(w.path); err != nil {
		return err
	}
	if _, err := w.writeRotated(filepath.Base(w.path)+".1", w.next-1); err != nil {
		return err
	}
	return w.syncLocked()
}

func (w *Writer) writeRotated(previous string, lastSeq uint64) (Record, error) {
	return w.write(Record{Stack: w.opts.Stack, Kind: KindRotated,
		Details: map[string]any{"previous": previous, "previous_last_seq": lastSeq}})
}

// syncTo makes every record up to seq durable. Concurrent callers share one fsync: the
// one holding syncMu flushes and syncs all that is written, the others find their seq
// covered when they get the lock.
func (w *Writer) syncTo(seq uint64) error {
	if w.synced.Load() >= seq {
		return nil
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.synced.Load() >= seq {
		return nil
	}
	w.mu.Lock()
	if w.err != nil {
		defer w.mu.Unlock()
		return w.err
	}
	last, f := w.next-1, w.f
	if last <= w.synced.Load() {
		w.mu.Unlock()
		return nil
	}
	err := w.buf.Flush()
	if err != nil {
		err = w.fail(err)
	}
	w.mu.Unlock()
	if err != nil {
		return err
	}
	// Outside mu, so appenders go on meanwhile. A rotation may close f under us: it
	// fsyncs f first, so ErrClosed still means every record up to last is on disk.
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.fail(err)
	}
	w.advanceSynced(last)
	return nil
}

// syncLocked flushes and fsyncs with mu held: for open, rotation and close.
func (w *Writer) syncLocked() error {
	if w.err != nil {
		return w.err
	}
	if err := w.buf.Flush(); err != nil {
		return w.fail(err)
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(err)
	}
	w.advanceSynced(w.next - 1)
	return nil
}

func (w *Writer) advanceSynced(seq uint64) {
	for {
		old := w.synced.Load()
		if old >= seq || w.synced.CompareAndSwap(old, seq) {
			return
		}
	}
}

// fail makes err sticky. The caller holds mu.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("audit: %s: %w", w.path, err)
	}
	return w.err
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(w.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Sync() // an error is sticky: the next Append or Close returns it
		}
	}
}

// syncDir fsyncs the directory holding path, so a created or renamed entry survives a crash.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: fsync %s: %w", filepath.Dir(path), err)
	}
	return nil
}
