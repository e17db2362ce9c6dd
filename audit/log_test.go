package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// denial is a record of the size and shape the collectors write most.
func testDenial(i int) Record {
	return Record{Stack: "shop", Component: "api", Kind: KindDenial, Details: map[string]any{
		DetailLayer: LayerSeccomp, DetailWhat: "syscall mount", DetailDecidedBy: "rule",
		DetailRule:   "api.yaml:14:9 syscalls.deny[0] mount",
		DetailReason: fmt.Sprintf("api called mount, which its policy denies (value-%d)", i),
	}}
}

// writeLog writes n denials after the open record and closes the log.
func writeLog(t testing.TB, path string, n int, opts WriterOptions) {
	t.Helper()
	w, err := OpenWriter(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := w.Append(testDenial(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t *testing.T, paths ...string) VerifyResult {
	t.Helper()
	res, err := Verify(paths...)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "audit.log")
	w, err := OpenWriter(path, WriterOptions{Stack: "shop", OpenDetails: map[string]any{"version": "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.Append(testDenial(7))
	if err != nil || r.Seq != 2 || r.Time.IsZero() || len(r.Prev) != 64 {
		t.Fatalf("Append: %+v, %v", r, err)
	}
	if _, err := w.Append(Record{Kind: "x", Details: map[string]any{"bad": func() {}}}); err == nil {
		t.Fatal("a record encoding/json refuses was appended")
	}
	seq, head := w.Head()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(testDenial(8)); err != ErrClosed {
		t.Fatalf("Append after Close: %v", err)
	}
	recs, err := ReadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Kind != KindOpen || recs[0].Prev != GenesisHash || recs[0].Details["version"] != "dev" ||
		recs[1].Details[DetailReason] != r.Details[DetailReason] || recs[1].Prev != r.Prev || recs[2].Kind != KindClose || recs[2].Seq != 3 {
		t.Fatalf("read back %+v", recs)
	}
	res := mustVerify(t, path)
	if res.Records != 3 || res.FirstSeq != 1 || res.LastSeq != 3 || !res.Closed || len(res.Notes) != 0 {
		t.Fatalf("Verify: %+v", res)
	}
	if seq != 2 || res.Head == head {
		t.Fatalf("Head() = %d %s; the close record should follow it", seq, head)
	}
	if _, err := (VerifyOptions{Head: head}).Verify(path); err != nil {
		t.Fatalf("anchored at the denial's line: %v", err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

// Many goroutines append at once; every record arrives once, in one chain.
func TestConcurrentAppend(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond, DefaultSyncInterval} {
		path := filepath.Join(t.TempDir(), "audit.log")
		w, err := OpenWriter(path, WriterOptions{SyncInterval: interval, MaxBytes: 64 << 10, Keep: 50})
		if err != nil {
			t.Fatal(err)
		}
		const goroutines, each = 16, 200
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					if _, err := w.Append(Record{Kind: "test", Details: map[string]any{"g": g, "i": i}}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		files := LogFiles(path)
		res := mustVerify(t, files...)
		if len(files) < 2 || res.Records != goroutines*each+len(files)-1+2 {
			t.Fatalf("interval %v: %d files, %d records", interval, len(files), res.Records)
		}
		countTestRecords(t, files, goroutines, each)
	}
}

// countTestRecords checks that each (g, i) of kind "test" is in the files exactly once.
func countTestRecords(t *testing.T, files []string, goroutines, each int) {
	t.Helper()
	seen := make([]int, goroutines*each)
	for _, f := range files {
		recs, err := ReadLog(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Kind == "test" {
				seen[int(r.Details["g"].(float64))*each+int(r.Details["i"].(float64))]++
			}
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("record g=%d i=%d is in the log %d times", k/each, k%each, n)
		}
	}
}

// A restarted writer continues the chain, after a clean close or a crash that cut its
// last line short.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	writeLog(t, path, 3, WriterOptions{})
	writeLog(t, path, 2, WriterOptions{}) // after a clean close
	w, err := OpenWriter(path, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Append(testDenial(0))
	w.f.Close() // a crash: no close record …
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":99,"time":"2`) // … and half a line
	f.Close()
	writeLog(t, path, 1, WriterOptions{})
	res := mustVerify(t, path)
	if res.Records != 5+4+2+3 || !res.Closed {
		t.Fatalf("%+v", res)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "restarted after seq 11 without closing") {
		t.Errorf("notes %q", res.Notes)
	}
	recs, _ := ReadLog(path)
	second, fourth := recs[5].Details, recs[12-1].Details
	if recs[5].Kind != KindOpen || second["resumed_after_seq"] != 5.0 || second["previous_closed"] != true {
		t.Errorf("second open: %+v", recs[5])
	}
	if fourth["previous_closed"] != false || fourth["torn_tail_bytes"] != 19.0 {
		t.Errorf("open after the crash: %+v", recs[11])
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	opts := WriterOptions{MaxBytes: 4 << 10, Keep: 30}
	writeLog(t, path, 150, opts)
	files := LogFiles(path)
	if len(files) < 4 || files[0] != path+"."+fmt.Sprint(len(files)-1) || files[len(files)-1] != path {
		t.Fatalf("LogFiles: %q", files)
	}
	res := mustVerify(t, files...)
	if res.Records != 150+2+len(files)-1 || res.FirstSeq != 1 || len(res.Notes) != 0 {
		t.Fatalf("%+v", res)
	}
	recs, _ := ReadLog(files[1])
	if recs[0].Kind != KindRotated || recs[0].Details["previous"] != "audit.log.1" {
		t.Errorf("rotated record: %+v", recs[0])
	}
	// Only the newest files: the chain before them is noted as unchecked.
	res = mustVerify(t, files[2:]...)
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "cannot be checked") {
		t.Errorf("notes %q", res.Notes)
	}
	// A middle file deleted.
	os.Remove(files[1])
	_, err := Verify(LogFiles(path)...)
	ce, ok := err.(*ChainError)
	if !ok || ce.File != files[2] || ce.Line != 1 || !strings.Contains(ce.Reason, "a whole rotated file, are missing") {
		t.Fatalf("Verify without %s: %v", files[1], err)
	}
}

// Keep bounds the rotated files; the oldest kept one starts with audit.rotated.
func TestRotationKeep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	writeLog(t, path, 150, WriterOptions{MaxBytes: 2 << 10, Keep: 2})
	files := LogFiles(path)
	if len(files) != 3 {
		t.Fatalf("LogFiles: %q", files)
	}
	if res := mustVerify(t, files...); len(res.Notes) != 1 || !res.Closed {
		t.Fatalf("%+v", res)
	}
	// A larger Keep before leaves no stale files behind a smaller one.
	writeLog(t, path, 150, WriterOptions{MaxBytes: 2 << 10, Keep: 6})
	writeLog(t, path, 20, WriterOptions{MaxBytes: 2 << 10, Keep: 3})
	if files := LogFiles(path); len(files) != 4 {
		t.Fatalf("LogFiles after Keep 6 then 3: %q", files)
	}
	mustVerify(t, LogFiles(path)...)
	// A file too small for one record: each record gets its own file, and no loop.
	small := filepath.Join(t.TempDir(), "audit.log")
	writeLog(t, small, 3, WriterOptions{MaxBytes: 1, Keep: 20})
	if files := LogFiles(small); len(files) != 5 || mustVerify(t, files...).Records != 9 {
		t.Fatalf("MaxBytes 1: %q", files)
	}
}

// A crash between the rename and the new file: the next writer continues from path.1.
func TestCrashInRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	writeLog(t, path, 5, WriterOptions{})
	os.Rename(path, path+".1")
	writeLog(t, path, 5, WriterOptions{})
	res := mustVerify(t, LogFiles(path)...)
	recs, _ := ReadLog(path)
	if res.Records != 7+8 || recs[0].Kind != KindRotated || recs[1].Kind != KindOpen {
		t.Fatalf("%+v %+v", res, recs[:2])
	}
}

// Each tampering is named at the first record where the chain breaks.
func TestTamper(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.log")
	writeLog(t, clean, 28, WriterOptions{}) // 30 lines: open, 28 denials, close
	data, _ := os.ReadFile(clean)
	lines := strings.SplitAfter(string(data), "\n")[:30]
	good := mustVerify(t, clean)
	hash := func(line string) string {
		sum := sha256.Sum256([]byte(strings.TrimSuffix(line, "\n")))
		return hex.EncodeToString(sum[:])
	}
	forged, _ := json.Marshal(Record{Seq: 11, Time: time.Now(), Kind: KindDenial, Prev: hash(lines[9])})
	edit := func(f func(l []string) []string) string {
		return strings.Join(f(append([]string(nil), lines...)), "")
	}
	cases := []struct {
		name, data string
		line       int
		seq        uint64
		reason     string
	}{
		{"edit a detail", edit(func(l []string) []string {
			l[9] = strings.Replace(l[9], "value-8", "value-9", 1)
			return l
		}), 11, 11, "prev does not match the hash of line 10"},
		{"delete a record", edit(func(l []string) []string { return append(l[:9], l[10:]...) }), 10, 11, "seq 11 follows 9: a record was deleted"},
		{"insert a forged record", edit(func(l []string) []string {
			return append(l[:10], append([]string{string(forged) + "\n"}, l[10:]...)...)
		}), 12, 11, "seq 11 repeats the seq of line 11"},
		{"swap two records", edit(func(l []string) []string { l[9], l[10] = l[10], l[9]; return l }), 10, 11, "seq 11 follows 9"},
		{"truncate mid-line", string(data[:len(strings.Join(lines[:19], ""))+40]), 20, 0, "does not parse"},
		{"cut the last newline", strings.TrimSuffix(string(data), "\n"), 30, 30, "no newline at the end"},
		{"change a seq", edit(func(l []string) []string {
			l[9] = strings.Replace(l[9], `"seq":10,`, `"seq":100,`, 1)
			return l
		}), 10, 100, "seq 100 follows 9"},
		{"add a field", edit(func(l []string) []string {
			l[9] = strings.Replace(l[9], `"seq":10,`, `"seq":10,"x":1,`, 1)
			return l
		}), 10, 0, `unknown field "x"`},
		{"a carriage return", edit(func(l []string) []string {
			l[9] = strings.TrimSuffix(l[9], "\n") + "\r\n"
			return l
		}), 11, 11, "hash of line 10"},
		{"drop the open record", edit(func(l []string) []string { return l[1:] }), 1, 2, "begins with denial"},
	}
	for i, tc := range cases {
		path := filepath.Join(dir, fmt.Sprintf("%d.log", i))
		os.WriteFile(path, []byte(tc.data), 0o600)
		res, err := Verify(path)
		ce, ok := err.(*ChainError)
		if !ok || ce.File != path || ce.Line != tc.line || ce.Seq != tc.seq || !strings.Contains(ce.Reason, tc.reason) || res.Bad != ce {
			t.Errorf("%s: got %v, want line %d seq %d %q", tc.name, err, tc.line, tc.seq, tc.reason)
		}
	}

	// What the chain alone cannot see, the anchor can: the newest records removed, or
	// the last line edited.
	anchor := VerifyOptions{Head: good.Head}
	for _, tc := range []struct {
		name, data string
		closed     bool
	}{
		{"drop the newest records", strings.Join(lines[:25], ""), false},
		{"edit the last line", edit(func(l []string) []string {
			l[29] = strings.Replace(l[29], `"audit.close"`, `"audit.close" `, 1)
			return l
		}), true},
	} {
		path := filepath.Join(dir, "anchor.log")
		os.WriteFile(path, []byte(tc.data), 0o600)
		if res, err := Verify(path); err != nil || res.Closed != tc.closed {
			t.Errorf("%s: the chain alone should not notice: %v (closed %v)", tc.name, err, res.Closed)
		}
		if _, err := anchor.Verify(path); err == nil || !strings.Contains(err.Error(), "is not in the chain") {
			t.Errorf("%s: anchored: %v", tc.name, err)
		}
	}
}

// FuzzScanLog: arbitrary bytes never panic the readers, and whatever Verify accepts,
// ScanLog reads whole.
func FuzzScanLog(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.log")
	writeLog(f, path, 3, WriterOptions{MaxBytes: 600})
	for _, p := range LogFiles(path) {
		data, _ := os.ReadFile(p)
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(bytes.ReplaceAll(data, []byte(`"seq":2`), []byte(`"seq":3`)))
	}
	for _, s := range []string{"", "\n", "{}\n", "null\n", "[1]\n", "{\"seq\":1}{}\n", "\r\n", "{\"details\":{\"a\":[[[[", "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := 0
		scanErr := ScanLog(bytes.NewReader(data), func(n int, _ []byte, _ Record) error { lines = n; return nil })
		c := &chain{opts: VerifyOptions{Head: GenesisHash}}
		err := c.file("fuzz", bytes.NewReader(data))
		if err == nil && (scanErr != nil || lines != c.res.Records) {
			t.Fatalf("Verify accepted %d records, ScanLog %d: %v", c.res.Records, lines, scanErr)
		}
		c.finish()
	})
}

// TestHundredThousand writes 100,000 records from 4 goroutines with the supervisor's
// options and checks that all are there, once, in one chain; it logs the rate against
// encoding/json and bufio alone, measured in the same run.
func TestHundredThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const goroutines, each = 4, 25000
	dir := t.TempDir()
	base := time.Now()
	f, _ := os.Create(filepath.Join(dir, "baseline.log"))
	bw := bufio.NewWriterSize(f, 64<<10)
	for i := range goroutines * each {
		r := testDenial(i)
		r.Seq, r.Time = uint64(i), time.Now().UTC()
		line, _ := json.Marshal(r)
		bw.Write(append(line, '\n'))
	}
	bw.Flush()
	f.Close()
	baseline := time.Since(base)

	path := filepath.Join(dir, "audit.log")
	start := time.Now()
	w, err := OpenWriter(path, WriterOptions{SyncInterval: DefaultSyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r := testDenial(i)
				r.Kind, r.Details["g"], r.Details["i"] = "test", g, i
				if _, err := w.Append(r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	res := mustVerify(t, LogFiles(path)...)
	if res.Records != goroutines*each+2 || !res.Closed {
		t.Fatalf("%+v", res)
	}
	countTestRecords(t, LogFiles(path), goroutines, each)
	rate := float64(goroutines*each) / took.Seconds()
	t.Logf("100,000 records in %v (%.0f records/s, closed and fsync'd); baseline %v (%.0f/s): %.2f× its time",
		took.Round(time.Millisecond), rate, baseline.Round(time.Millisecond), float64(goroutines*each)/baseline.Seconds(), took.Seconds()/baseline.Seconds())
}

// BenchmarkAppend: records/s of one appender, and of many (parallel), against json.Marshal
// and bufio alone (baseline).
func BenchmarkAppend(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		f, _ := os.Create(filepath.Join(b.TempDir(), "baseline.log"))
		defer f.Close()
		bw := bufio.NewWriterSize(f, 64<<10)
		r := testDenial(1)
		for i := 0; b.Loop(); i++ {
			r.Seq, r.Time = uint64(i), time.Now().UTC()
			line, err := json.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			bw.Write(append(line, '\n'))
		}
		bw.Flush()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	for _, mode := range []struct {
		name     string
		interval time.Duration
	}{{"buffered", DefaultSyncInterval}, {"fsync-each", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			w, _ := OpenWriter(filepath.Join(b.TempDir(), "audit.log"), WriterOptions{SyncInterval: mode.interval})
			defer w.Close()
			r := testDenial(1)
			for b.Loop() {
				if _, err := w.Append(r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(mode.name+"-parallel", func(b *testing.B) {
			w, _ := OpenWriter(filepath.Join(b.TempDir(), "audit.log"), WriterOptions{SyncInterval: mode.interval})
			defer w.Close()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				r := testDenial(1)
				for pb.Next() {
					if _, err := w.Append(r); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkVerify: records/s that Verify reads, hashes and checks.
func BenchmarkVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.log")
	writeLog(b, path, 10000, WriterOptions{SyncInterval: DefaultSyncInterval})
	for b.Loop() {
		if _, err := Verify(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10002)/b.Elapsed().Seconds(), "records/s")
}
