package audit

// Reading the log back: ScanLog and ReadLog for reports, Verify for the hash chain.
//
// What Verify proves: every line of the files given is a record as the Writer wrote it,
// in the order it wrote them, none removed or added between the first line and the last:
// an edit, deletion, insertion, reordering or a line cut short breaks the chain at the
// first record after it, and Verify names that record and the line it points at.
//
// What it cannot prove on its own. A hash chain has no secret, so whoever can write the
// file can drop its newest records, or rewrite the whole log with a fresh chain, and the
// result verifies. Two things narrow that: VerifyResult says whether the log ends with
// audit.close (a log that does not was cut, or its writer crashed or is still running);
// and VerifyOptions.Head checks that a line hash recorded earlier and kept elsewhere (a
// ticket, a signed message, another host) is still in the chain. Records before the oldest
// file given (rotated away) are outside the check, and Verify says so in a note.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ScanLog calls fn for each line of a log, in order, with its 1-based number, its bytes
// (without the newline; valid only until fn returns) and its record. It stops at the
// first line that is not a record as the Writer writes them (see ReadLog) and at the
// first error fn returns. It reads one line at a time, so a log of any size costs one line.
func ScanLog(r io.Reader, fn func(line int, raw []byte, rec Record) error) error {
	return scanLines(r, func(n int, raw []byte, terminated bool) error {
		rec, err := parseRecord(raw)
		if err == nil && !terminated {
			err = errCutShort
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		return fn(n, raw, rec)
	})
}

// ReadLog reads every record of one log file. A line is refused unless it is one JSON
// object with only Record's fields, a seq, time, kind and a prev of 64 hex digits, and
// ends with a newline. It checks no chain: that is Verify.
func ReadLog(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var recs []Record
	err = ScanLog(f, func(_ int, _ []byte, rec Record) error {
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return recs, fmt.Errorf("audit: %s: %w", path, err)
	}
	return recs, nil
}

// LogFiles returns the files of the log at path that exist, oldest first: path.N … path.1,
// then path. A missing number in between is not skipped over, so Verify reports the gap.
func LogFiles(path string) []string {
	var files []string
	for _, n := range rotatedNumbers(path) {
		files = append(files, fmt.Sprintf("%s.%d", path, n))
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	}
	return files
}

// rotatedNumbers returns the N of each path.N that exists, highest first.
func rotatedNumbers(path string) []int {
	dir, base := filepath.Split(path)
	entries, _ := os.ReadDir(filepath.Clean(dir + "."))
	var nums []int
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if n, err := strconv.Atoi(suffix); ok && err == nil && n > 0 && strconv.Itoa(n) == suffix {
			nums = append(nums, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(nums)))
	return nums
}

// VerifyOptions are Verify's options.
type VerifyOptions struct {
	// Head, if set, is a line hash taken earlier (VerifyResult.Head, Writer.Head) and kept
	// out of the log's reach. Verify fails unless a line of the files still has that hash.
	Head string
}

// VerifyResult describes a log Verify read, up to its end or its first bad record.
type VerifyResult struct {
	Files    []string `json:"files"`
	Records  int      `json:"records"`
	FirstSeq uint64   `json:"first_seq"`
	LastSeq  uint64   `json:"last_seq"`
	// Head is the hash of the last good line: the anchor to keep for the next Verify.
	Head string `json:"head"`
	// Closed: the last record is audit.close. A log that is not closed was cut short, or
	// its writer crashed or is still running.
	Closed bool `json:"closed"`
	// Anchored: VerifyOptions.Head was given and found.
	Anchored bool `json:"anchored"`
	// Notes are what Verify could not check or found odd but not wrong.
	Notes []string `json:"notes,omitempty"`
	// Bad is the first bad record, the error Verify returned; nil when the log verifies.
	Bad *ChainError `json:"bad,omitempty"`
}

// ChainError is the first record at which a log stops verifying.
type ChainError struct {
	File string `json:"file"`
	// Line is 1-based; 0 when the fault is in the files as a whole (a missing anchor).
	Line int `json:"line"`
	// Seq is the record's seq; 0 when its line has none.
	Seq    uint64 `json:"seq,omitempty"`
	Reason string `json:"reason"`
}

func (e *ChainError) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Reason)
	case e.Seq == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: seq %d: %s", e.File, e.Line, e.Seq, e.Reason)
}

// Verify checks the chain through paths, oldest first (LogFiles gives them). A chain that
// breaks is a *ChainError, also in VerifyResult.Bad; other errors are the files' own.
func Verify(paths ...string) (VerifyResult, error) { return VerifyOptions{}.Verify(paths...) }

// Verify is Verify with options.
func (o VerifyOptions) Verify(paths ...string) (VerifyResult, error) {
	if len(paths) == 0 {
		return VerifyResult{}, errors.New("audit: verify: no log files")
	}
	c := &chain{opts: o}
	c.res.Files = paths
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return c.res, fmt.Errorf("audit: %w", err)
		}
		err = c.file(p, f)
		f.Close()
		if err != nil {
			return c.res, c.fail(err)
		}
	}
	return c.res, c.fail(c.finish())
}

// timeSlack is how far a record's time may go back before Verify notes it: callers may
// set Time to when an event happened (a kernel record read a little later).
const timeSlack = time.Second

const maxNotes = 20

// chain is Verify's state from one line to the next.
type chain struct {
	opts  VerifyOptions
	res   VerifyResult
	prev  *Record
	file1 string
	line1 int
	notes int
	// lastKind is the kind of the last record other than audit.rotated.
	lastKind string
}

// file checks one file's lines against the chain so far.
func (c *chain) file(name string, r io.Reader) error {
	lines := 0
	err := scanLines(r, func(n int, raw []byte, terminated bool) error {
		lines = n
		bad := func(seq uint64, format string, args ...any) error {
			return &ChainError{File: name, Line: n, Seq: seq, Reason: fmt.Sprintf(format, args...)}
		}
		rec, err := parseRecord(raw)
		if err != nil {
			return bad(0, "%v", err)
		}
		if !terminated {
			return bad(rec.Seq, "%v", errCutShort)
		}
		if err := c.link(&rec, n == 1, bad); err != nil {
			return err
		}
		if c.prev != nil && rec.Time.Before(c.prev.Time.Add(-timeSlack)) {
			c.note("%s:%d: time goes back %s from the record before (the clock was set back?)", name, n, c.prev.Time.Sub(rec.Time))
		}
		sum := sha256.Sum256(raw)
		hash := hex.EncodeToString(sum[:])
		if c.opts.Head != "" && strings.EqualFold(hash, strings.TrimSpace(c.opts.Head)) {
			c.res.Anchored = true
		}
		if c.res.Records == 0 {
			c.res.FirstSeq = rec.Seq
		}
		c.res.Records++
		c.res.LastSeq, c.res.Head, c.res.Closed = rec.Seq, hash, rec.Kind == KindClose
		c.prev, c.file1, c.line1 = &rec, name, n
		if rec.Kind != KindRotated {
			c.lastKind = rec.Kind
		}
		return nil
	})
	if err == nil && lines == 0 {
		return &ChainError{File: name, Reason: "the file is empty: every record of it was removed"}
	}
	if errors.Is(err, errTooLong) {
		return &ChainError{File: name, Line: lines + 1, Reason: errTooLong.Error()}
	}
	return err
}

// link checks rec against the record before it (or, for the first, how a log begins).
func (c *chain) link(rec *Record, firstInFile bool, bad func(uint64, string, ...any) error) error {
	if c.prev == nil {
		switch {
		case rec.Kind == KindOpen && rec.Prev == GenesisHash && rec.Seq == 1:
		case rec.Kind == KindOpen && rec.Prev == GenesisHash:
			return bad(rec.Seq, "the log begins at seq %d, not 1: its first records were removed", rec.Seq)
		case rec.Kind == KindRotated:
			if err := c.checkRotated(rec, rec.Seq-1, bad); err != nil {
				return err
			}
			c.note("the chain before seq %d cannot be checked: the file before this one is not among those verified (rotated away, or not given)", rec.Seq)
		case rec.Kind == KindOpen:
			return bad(rec.Seq, "audit.open begins the log but its prev is not GenesisHash: the log's beginning is missing")
		default:
			return bad(rec.Seq, "the log begins with %s, not audit.open or audit.rotated: its beginning is missing", rec.Kind)
		}
		return nil
	}
	p, at := c.prev, fmt.Sprintf("line %d", c.line1)
	if firstInFile {
		at = fmt.Sprintf("line %d of %s", c.line1, c.file1)
	}
	switch {
	case rec.Seq == p.Seq:
		return bad(rec.Seq, "seq %d repeats the seq of %s: a record was inserted or duplicated", rec.Seq, at)
	case rec.Seq < p.Seq:
		return bad(rec.Seq, "seq %d follows %d (%s): records were reordered", rec.Seq, p.Seq, at)
	case rec.Seq > p.Seq+1 && firstInFile:
		return bad(rec.Seq, "seq %d follows %d at the end of %s: records, or a whole rotated file, are missing", rec.Seq, p.Seq, c.file1)
	case rec.Seq > p.Seq+1:
		return bad(rec.Seq, "seq %d follows %d: a record was deleted, or records reordered", rec.Seq, p.Seq)
	case rec.Prev != c.res.Head:
		return bad(rec.Seq, "prev does not match the hash of %s: that line was changed, or this record was inserted after it", at)
	case firstInFile && rec.Kind != KindRotated:
		return bad(rec.Seq, "the file begins with %s, not audit.rotated: it does not follow %s", rec.Kind, c.file1)
	case !firstInFile && rec.Kind == KindRotated:
		return bad(rec.Seq, "audit.rotated inside a file: files were joined")
	case rec.Kind == KindRotated:
		return c.checkRotated(rec, p.Seq, bad)
	case rec.Kind == KindOpen && c.lastKind != KindClose:
		c.note("seq %d: the writer restarted after seq %d without closing the log (a crash?)", rec.Seq, p.Seq)
	}
	return nil
}

func (c *chain) checkRotated(rec *Record, want uint64, bad func(uint64, string, ...any) error) error {
	if got, ok := rec.Details["previous_last_seq"].(float64); !ok || got != float64(want) {
		return bad(rec.Seq, "audit.rotated gives previous_last_seq %v, but the previous file ends at seq %d", rec.Details["previous_last_seq"], want)
	}
	return nil
}

func (c *chain) finish() error {
	if c.opts.Head != "" && !c.res.Anchored {
		return &ChainError{File: c.file1, Reason: fmt.Sprintf("the anchored head %s is not in the chain: records up to it were removed from the end, the log was rewritten, or the file holding it was rotated away", c.opts.Head)}
	}
	return nil
}

func (c *chain) note(format string, args ...any) {
	c.notes++
	switch {
	case c.notes <= maxNotes:
		c.res.Notes = append(c.res.Notes, fmt.Sprintf(format, args...))
	case c.notes == maxNotes+1:
		c.res.Notes = append(c.res.Notes, "more notes left out")
	}
}

func (c *chain) fail(err error) error {
	if ce, ok := err.(*ChainError); ok {
		c.res.Bad = ce
		return ce
	}
	return err
}

var (
	errCutShort = errors.New("no newline at the end of the file: the record is cut short")
	errTooLong  = fmt.Errorf("longer than %d bytes", MaxRecordBytes)
)

// scanLines calls fn for each line of r, without its newline ('\r' is kept: it is part of
// what was hashed); terminated is false for a last line with no newline.
func scanLines(r io.Reader, fn func(n int, raw []byte, terminated bool) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxRecordBytes)
	terminated := true
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			terminated = false
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Bytes(), terminated); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("line %d: %w", n+1, errTooLong)
	}
	return sc.Err()
}

// parseRecord decodes one line strictly: one JSON object, Record's fields only, and the
// fields every record has.
func parseRecord(raw []byte) (Record, error) {
	var rec Record
	if len(raw) == 0 || raw[0] != '{' {
		return rec, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Record{}, fmt.Errorf("does not parse: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Record{}, errors.New("text after the record")
	}
	switch {
	case rec.Seq == 0:
		return rec, errors.New("seq is missing")
	case rec.Kind == "":
		return rec, errors.New("kind is missing")
	case rec.Time.IsZero():
		return rec, errors.New("time is missing")
	case !isHash(rec.Prev):
		return rec, errors.New("prev is not a SHA-256 in lowercase hex")
	}
	return rec, nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// tail is the last complete line of a log file and what it holds.
type tail struct {
	rec     Record
	hash    string
	rotated bool // read from path.1: the log continues across a rotation
}

// lastRecord reads the last complete line of path (nil if the file is missing or holds
// none) and counts the bytes after it, a line cut short by a crash. It reads backwards,
// so a long log costs what its last line does.
func lastRecord(path string) (*tail, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("audit: %w", err)
	}
	size := st.Size()
	for window := int64(64 << 10); ; window *= 2 {
		off := max(size-window, 0)
		buf := make([]byte, size-off)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("audit: %w", err)
		}
		end := bytes.LastIndexByte(buf, '\n')
		if end < 0 && off == 0 { // no complete line at all
			return nil, int64(len(buf)), nil
		}
		start := bytes.LastIndexByte(buf[:max(end, 0)], '\n') + 1
		if (end < 0 || start == 0) && off > 0 {
			if window > 2*MaxRecordBytes {
				return nil, 0, fmt.Errorf("audit: %s: the last line is longer than %d bytes", path, MaxRecordBytes)
			}
			continue
		}
		raw := buf[start:end]
		rec, err := parseRecord(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("audit: %s: the last record: %w; run `confine audit verify %s` and move the log aside", path, err, path)
		}
		sum := sha256.Sum256(raw)
		return &tail{rec: rec, hash: hex.EncodeToString(sum[:])}, int64(len(buf) - end - 1), nil
	}
}
