package progcache

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestProgramReadsWholeEntry: Program reads an entry whole (by pread, to its size), up
// to the largest program; a larger entry, one cut inside its header and an empty one
// are not taken.
func TestProgramReadsWholeEntry(t *testing.T) {
	s := testStore(t)
	s.Keep("k", bytes.Repeat([]byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}, 3))
	entry := filepath.Join(s.dir, s.entryName("k"))
	head := magic + "k\n"
	for _, c := range []struct {
		what string
		data []byte
		want []byte
	}{
		{"the largest program", append([]byte(head), bytes.Repeat([]byte{1}, maxProgram)...), bytes.Repeat([]byte{1}, maxProgram)},
		{"a program one byte larger", append([]byte(head), bytes.Repeat([]byte{1}, maxProgram+1)...), nil},
		{"an entry cut inside its header", []byte(head[:len(head)-1]), nil},
		{"an empty entry", nil, nil},
	} {
		if err := os.WriteFile(entry, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := s.Program("k"); !bytes.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%s: took %d bytes, want %d", c.what, len(got), len(c.want))
		}
	}
}
