// Package planahead decodes the Plan of `confine run --plan FILE` while the rest of the
// binary initialises. Go initialises packages in import path order, each as soon as
// what it imports is: this one needs only encoding/json, fastjson and policy/plan, so its
// init runs about halfway through the binary's package inits (cobra, the image, network and cgroup libraries come after),
// and the decode runs on another core beside them. It is only ahead of time, never
// instead: readPlan reads FILE itself, as every Plan is read, and takes this decode only
// when it came from the very bytes it read (Take). Decoding the 25 KB Plan of
// bench/run.sh with encoding/json took about 1 ms in a fresh process, half of it
// encoding/json learning the Plan's types; the fast path (fast.go) takes under half that.
package planahead

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Decode decodes a Plan as every reader of one does: strictly, refusing unknown fields
// and lists that would take more memory than a Plan may (bound.go). The caller checks
// what is in it. The fast path (fast.go) decodes what compile writes;
// whatever it is not sure of, encoding/json decodes, as it decodes every Plan's errors.
func Decode(data []byte) (*plan.Plan, error) {
	if err := bounded(data); err != nil { // bound.go
		return nil, err
	}
	if p, ok := decodeFast(data); ok {
		return p, nil
	}
	return decodeStd(data)
}

// decodeStd is encoding/json's decode, strict: a Decoder stops after the first value,
// and what follows it is refused, as json.Unmarshal refuses it (a second Plan after
// the first would be read by other tools, and not run).
func decodeStd(data []byte) (*plan.Plan, error) {
	var p plan.Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("text after the Plan, at offset %d", len(data)-len(rest))
	}
	return &p, nil
}

// maxSize is the most it reads ahead; a larger Plan (readPlan takes up to 64 MiB) is
// decoded by readPlan alone.
const maxSize = 16 << 20

// ahead is the decode started by init, or nil.
var ahead *early

type early struct {
	file string
	done chan struct{}
	data []byte // what was decoded, nil if nothing was read
	p    *plan.Plan
	err  error
}

func init() { start(os.Args) }

// start begins the decode for the command line args, if it runs a Plan.
func start(args []string) {
	file := planArg(args)
	if file == "" {
		return
	}
	e := &early{file: file, done: make(chan struct{})}
	ahead = e
	go func() {
		defer close(e.done)
		if e.data = readRegular(file); e.data != nil {
			e.p, e.err = Decode(e.data)
		}
	}()
}

// Take returns the decode of data that init made of file, or ok false when it made
// none: another file, other bytes (the file changed in between), or one already
// taken. It waits for a decode still running, which is never longer than decoding data
// from the start.
func Take(file string, data []byte) (p *plan.Plan, ok bool, err error) {
	e := ahead
	if e == nil || e.file != file {
		return nil, false, nil
	}
	ahead = nil
	<-e.done
	if e.data == nil || !bytes.Equal(e.data, data) {
		return nil, false, nil
	}
	return e.p, true, e.err
}

// planArg is FILE of a command line "confine run … --plan FILE …", or "". It only
// guesses ahead of cobra: a wrong guess costs a decode that Take then refuses.
func planArg(args []string) string {
	if len(args) < 3 || args[1] != "run" {
		return ""
	}
	for i, a := range args[2:] {
		switch {
		case a == "--":
			return ""
		case a == "--plan" && i+3 < len(args):
			return args[i+3]
		case len(a) > 7 && a[:7] == "--plan=":
			return a[7:]
		}
	}
	return ""
}

// readRegular reads file when it is a regular file no larger than maxSize, or returns
// nil: a pipe is read once, by readPlan, a device is never opened, and a symlink is
// left to readPlan's own checks. It reads with bare system calls into a buffer of the
// size fstat gives: an os.File would offer the file to the runtime's poller (epoll
// refuses a regular file) and set a finalizer, and bytes.Buffer's read asks for 512
// bytes more and reads once more to see the end.
func readRegular(file string) []byte {
	var st syscall.Stat_t
	if syscall.Lstat(file, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil
	}
	fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size > maxSize {
		return nil
	}
	// A file that grows meanwhile is read as far as its size was, and Take's comparison
	// with readPlan's own read then refuses this decode.
	buf := make([]byte, st.Size)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n]
}
