//go:build cgo && linux

package sandbox

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// stageMatchesGo reads path with the C stage's reader (stage_idfile.c) and the Go init's
// (readPasswdFile, readGroupFile), and fails unless both give the same error, worded as
// the parent words the stage's, or the same ids for every name either knows, every name
// a line of the file starts with (a line Go skips must not resolve in C), and extra names.
func stageMatchesGo(t *testing.T, path string, extra ...string) {
	t.Helper()
	users, uerr := readPasswdFile(path)
	groups, gerr := readGroupFile(path)
	names := slices.Concat(slices.Collect(maps.Keys(users)), slices.Collect(maps.Keys(groups)), extra, lineNames(path))
	for _, nfields := range []int{4, 3} {
		ids, kind, errno := stage.LookupIDs(path, nfields, names)
		goErr := uerr
		if nfields == 3 {
			goErr = gerr
		}
		if kind != 0 || goErr != nil {
			if goErr == nil || kind == 0 {
				t.Fatalf("%d fields: the stage failed with kind %d (%v), Go with %v", nfields, kind, errno, goErr)
			}
			if got := idFileError(stage.Error{Kind: uint32(kind), Errno: errno}, path).Error(); got != goErr.Error() {
				t.Fatalf("%d fields: the stage's error %q, Go's %q", nfields, got, goErr)
			}
			continue
		}
		for _, n := range names {
			c, cok := ids[n]
			var g [2]uint32
			var gok bool
			if nfields == 4 {
				e, ok := users[n]
				g, gok = [2]uint32{uint32(e.uid), uint32(e.gid)}, ok
			} else {
				id, ok := groups[n]
				g, gok = [2]uint32{uint32(id), 0}, ok
			}
			if cok != gok || c != g {
				t.Fatalf("%d fields: %q: the stage finds %v (%v), Go %v (%v)", nfields, n, c, cok, g, gok)
			}
		}
	}
}

// lineNames are the distinct first fields of path's lines, if it is a regular file.
func lineNames(path string) []string {
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		return nil // a FIFO would block the read
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		name, _, _ := strings.Cut(line, ":")
		seen[name] = true
	}
	return slices.Collect(maps.Keys(seen))
}

// TestStageIDFileBounds holds the C stage's reader to the Go init's at scanIDFile's
// bounds: a line just under and at bufio's 64 KiB token bound, with and without its
// newline, anywhere in the file; a file past 1 MiB, whose cut last line is still a
// line; \r\n; numbers at and past 32 bits, signs, spaces; the first valid line of a
// name; a symlink, a directory, a FIFO, a missing file.
func TestStageIDFileBounds(t *testing.T) {
	dir := t.TempDir()
	long := func(n int) string { return "pad:x:1:1:" + strings.Repeat("g", n-len("pad:x:1:1:")) }
	// fill is n bytes of short lines, the last one's newline its last byte.
	fill := func(n int) string {
		line := strings.Repeat("f", 99) + "\n"
		return strings.Repeat(line, n/100-1) + strings.Repeat("f", 100+n%100-1) + "\n"
	}
	cases := map[string]string{
		"plain":      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n",
		"crlf":       "a:x:1:2\r\nb:x:3\r\nc:x:4:5:\r\n",
		"numbers":    "max:x:4294967295:4294967295\nover:x:4294967296:1\nneg:x:-1:1\nplus:x:+1:1\nsp:x: 1:1\nhex:x:0x1:1\nzeros:x:0000000000007:0008\nempty:x::1\n",
		"first":      "dup:x:nope:1\ndup:x:5:6\ndup:x:7:8\n",
		"short":      "s:x:5\nt:x\n\n\n:x:1:1\nu",
		"under":      long(65535) + "\nafter:x:9:9\n",
		"at":         "before:x:1:1\n" + long(65536) + "\nafter:x:9:9\n",
		"under-eof":  "a:x:1:1\n" + long(65535),
		"at-eof":     "a:x:1:1\n" + long(65536),
		"huge":       strings.Repeat("filler:x:1:1:"+strings.Repeat("f", 1000)+"\n", 1100) + "late:x:2:2\n",
		"cut":        fill(1<<20-len("cut:x:12:3")) + "cut:x:12:345678\n",
		"cut-long":   strings.Repeat("f:x:1:1\n", (1<<20-100)/8) + long(100000) + "\n",
		"nul":        "n\x00ul:x:3:3\nnul:x:4:4\n",
		"empty-file": "",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			stageMatchesGo(t, p, "missing", "late", "after", "cut", "n\x00ul", "")
		})
	}
	// The cases are what they say: the bounds bite where the Go init's do.
	want := map[string]string{"at": "bufio.Scanner: token too long", "at-eof": "bufio.Scanner: token too long",
		"under": "after 9:9", "under-eof": "a 1:1", "huge": "late -", "cut": "cut 12:3", "cut-long": "f 1:1",
		"first": "dup 5:6", "numbers": "max 4294967295:4294967295", "nul": "n\x00ul 3:3"}
	for name, w := range want {
		users, err := readPasswdFile(filepath.Join(dir, name))
		got := fmt.Sprint(err)
		if err == nil {
			n, _, _ := strings.Cut(w, " ")
			got = n + " -"
			if e, ok := users[n]; ok {
				got = fmt.Sprintf("%s %d:%d", n, e.uid, e.gid)
			}
		}
		if got != w {
			t.Errorf("%s: Go reads %s, want %s", name, got, w)
		}
	}
	link := filepath.Join(dir, "link")
	os.Symlink(filepath.Join(dir, "plain"), link)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, dir, fifo, filepath.Join(dir, "none")} {
		stageMatchesGo(t, p, "root")
	}
}

// FuzzStageIDFile holds the C stage's reader to the Go init's on any file.
func FuzzStageIDFile(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/sh\nredis:x:103:111::/:/bin/false\nredis:x:9:9\n"), "redis")
	f.Add([]byte("ssl-cert:x:4242:postgres\r\nbad:x:99999999999:\n:::\n"), "bad")
	p := filepath.Join(f.TempDir(), "f") // one per process: its inputs run in turn
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		stageMatchesGo(t, p, name)
	})
}
