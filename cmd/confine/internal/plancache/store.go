package plancache

import "github.com/confine-sandbox/confine/internal/keptdir"

const (
	maxEntry    = 4 << 20  // bytes in one entry; a larger Plan is compiled on every start
	maxEntries  = 128      // pruned to keepEntries once a keep finds more,
	keepEntries = 96       //
	maxBytes    = 64 << 20 // or finds them larger together than this
)

// store is a directory of entries only owner may enter, as sandbox/progcache's
// (internal/keptdir), named by their key (hex), which each also holds.
type store struct {
	dir   string
	owner int
}

// read is the entry named name, or nil.
func (s *store) read(name string) []byte { return s.kept().Read(name, maxEntry) }

// write replaces the entry named name with data. A store that cannot be written only
// costs the next start a compile.
func (s *store) write(name string, data []byte) {
	if len(data) <= maxEntry {
		s.kept().Write(name, data)
	}
}

func (s *store) kept() *keptdir.Dir {
	return &keptdir.Dir{Path: s.dir, Owner: s.owner,
		Limits: keptdir.Limits{MaxEntries: maxEntries, KeepEntries: keepEntries, MaxBytes: maxBytes}}
}
