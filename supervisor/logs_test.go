package supervisor

import (
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLineWriterThroughExec: a component's output reaches the log line by line through
// os/exec's copy (ReadFrom's small buffer): lines longer than the buffer whole, a
// runaway line cut into pieces of bounded size with nothing lost, and a last line
// without a newline kept when the stream ends.
func TestLineWriterThroughExec(t *testing.T) {
	var got []string
	book, err := openLogBook(filepath.Join(t.TempDir(), "c.log"), func(l LogLine) {
		if l.Stream != "stdout" {
			t.Errorf("stream %q", l.Stream)
		}
		got = append(got, l.Line)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer book.close()
	long := strings.Repeat("a", 10<<10) // more than ReadFrom's 4 KiB
	runaway := strings.Repeat("b", 3*maxLine)
	w := book.writer("stdout")
	if _, ok := w.(io.ReaderFrom); !ok {
		t.Fatal("the log writer is no io.ReaderFrom: io.Copy would hold 32 KiB per stream")
	}
	cmd := exec.Command("printf", "%s\n%s\n%s\nlast", "one", long, runaway)
	cmd.Stdout = w
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if len(got) < 5 {
		t.Fatalf("%d lines logged: %.30q", len(got), got)
	}
	if got[0] != "one" || got[1] != long || got[len(got)-1] != "last" {
		t.Errorf("lines: %.30q", got)
	}
	pieces := got[2 : len(got)-1]
	for _, p := range pieces {
		if len(p) > maxLine+4<<10 {
			t.Errorf("a piece of %d bytes: the runaway line was buffered whole", len(p))
		}
	}
	if strings.Join(pieces, "") != runaway {
		t.Errorf("the runaway line's pieces do not add up to it (%d pieces)", len(pieces))
	}
}
