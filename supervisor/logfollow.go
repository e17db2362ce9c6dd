package supervisor

import (
	"bufio"
	"io"
	"os"
)

// logFollower reads a component's log as it grows, across rotations, as tail -F does:
// it reads the file it holds open to its end, and once the log's name has come to mean
// another file (logBook.rotate moved the full one to NAME.log.1), it opens the one that
// came next. Reopening by name alone would skip what was written to the old file after
// the last read; reading the held file alone would stop at the first rotation.
type logFollower struct {
	path string
	f    *os.File
	rd   *bufio.Reader
}

func openLogFollower(path string) (*logFollower, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &logFollower{path: path, f: f, rd: bufio.NewReader(f)}, nil
}

func (lf *logFollower) close() { lf.f.Close() }

// read appends every whole line written since the last read, in order, across any
// rotations since. Only more than one rotation between two reads loses lines: the file
// between them is gone from the disk too.
func (lf *logFollower) read(lines [][]byte) [][]byte {
	for {
		lines = lf.drain(lines)
		next := lf.successor()
		if next == "" {
			return lines
		}
		f, err := os.Open(next)
		if err != nil { // renamed again meanwhile: the next read looks once more
			return lines
		}
		lf.f.Close()
		lf.f = f
		lf.rd.Reset(f)
	}
}

// drain appends the whole lines left in the held file; a partial line (the writer is
// between two writes) stays for the next read.
func (lf *logFollower) drain(lines [][]byte) [][]byte {
	for {
		line, err := lf.rd.ReadBytes('\n')
		if err == nil {
			lines = append(lines, line)
			continue
		}
		if len(line) > 0 && err == io.EOF {
			lf.f.Seek(-int64(len(line)), io.SeekCurrent)
			lf.rd.Reset(lf.f)
		}
		return lines
	}
}

// successor names the file written after the held one, or "" while the held one is
// still the log (or the new one is not there yet: rotate renames, then creates). The
// held file is NAME.log.1 after one rotation, so NAME.log is next; after two it is gone,
// and NAME.log.1, written after it, is next.
func (lf *logFollower) successor() string {
	held, err := lf.f.Stat()
	if err != nil {
		return ""
	}
	cur, err := os.Stat(lf.path)
	if err != nil || os.SameFile(held, cur) {
		return ""
	}
	if prev, err := os.Stat(lf.path + ".1"); err == nil && !os.SameFile(held, prev) {
		return lf.path + ".1"
	}
	return lf.path
}
