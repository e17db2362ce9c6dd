package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rotationLines is how many numbered lines of about 1 KiB fill the log past two
// rotations and short of a third (a third between two reads loses a file on disk too).
const rotationLines = 2*maxLogSize/1024 + maxLogSize/1024/2

var padding = strings.Repeat("x", 1000)

func numbered(i int) string { return fmt.Sprintf("%06d %s", i, padding) }

// seqOf reads the number back from a stored JSON line.
func seqOf(t *testing.T, raw []byte) int {
	t.Helper()
	var l LogLine
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("line %q: %v", raw, err)
	}
	n, err := strconv.Atoi(strings.Fields(l.Line)[0])
	if err != nil {
		t.Fatalf("line %q: %v", l.Line, err)
	}
	return n
}

// TestFollowAcrossRotation follows a component's log over the API while it is written
// past two rotations, and sees every line once, in order.
func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	book, err := openLogBook(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer book.close()
	book.add("stdout", numbered(0))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveLogs(w, r, book, 0, true)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	lines := make(chan []byte)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
	}()
	started := false
	for want := 0; want < rotationLines; want++ {
		var raw []byte
		var ok bool
		select {
		case raw, ok = <-lines:
		case <-time.After(time.Minute): // a liveness guard, not a timing: a stopped follower hangs here
			t.Fatalf("the follower stopped after line %d of %d", want-1, rotationLines)
		}
		if !ok {
			t.Fatalf("the stream ended after line %d of %d", want-1, rotationLines)
		}
		if got := seqOf(t, raw); got != want {
			t.Fatalf("line %d is number %d: lost or repeated", want, got)
		}
		if !started { // the follower holds the file: now write past the rotations
			started = true
			go func() {
				for i := 1; i < rotationLines; i++ {
					book.add("stdout", numbered(i))
				}
			}()
		}
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Errorf("the log never rotated: %v", err)
	}
}

// TestFollowerReadsEveryGeneration reads after every line, every thousand lines, and
// once after two rotations (the held file is gone then, and NAME.log.1 is read next).
func TestFollowerReadsEveryGeneration(t *testing.T) {
	for _, every := range []int{1, 1000, rotationLines} {
		t.Run(strconv.Itoa(every), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web.log")
			book, err := openLogBook(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer book.close()
			lf, err := openLogFollower(path)
			if err != nil {
				t.Fatal(err)
			}
			defer lf.close()
			var got [][]byte
			for i := 0; i < rotationLines; i++ {
				book.add("stdout", numbered(i))
				if (i+1)%every == 0 {
					got = lf.read(got)
				}
			}
			got = lf.read(got)
			if len(got) != rotationLines {
				t.Errorf("read %d lines, want %d", len(got), rotationLines)
			}
			for i, raw := range got {
				if n := seqOf(t, raw); n != i {
					t.Fatalf("line %d is number %d: lost or repeated", i, n)
				}
			}
		})
	}
}
