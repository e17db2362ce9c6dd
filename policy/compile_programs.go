package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/seccomp"
)

// ProgramStore keeps the seccomp programs of earlier compiles, so that a start does not
// pay libseccomp again for a filter it built before (about 1.5 ms for the default
// profile; sandbox/progcache). A program it gives for a key must be the one Build made
// for the section the key names: the key covers Build's whole input and its Recipe, and
// the store is the start commands' own root-only cache. Commands a reviewer runs
// (compile, check, audit) never use one: what they show is always built.
type ProgramStore interface {
	// Program is the program kept under key, or nil.
	Program(key string) []byte
	// Keep keeps program under key; a failure only costs the next compile a build.
	Keep(key string, program []byte)
}

// CompileWithPrograms is CompileWith that takes seccomp programs from programs, and
// keeps there those it builds. The Plan is the one CompileWith makes.
func CompileWithPrograms(s *Stack, r ImageResolver, programs ProgramStore) (*plan.Plan, error) {
	return compileWith(s, r, programs)
}

// programKey names everything seccomp.Build reads of s, and how it builds: every field
// of the section, its rules and their arguments, each string with its length before it
// (so no two sections write the same bytes). It writes them by hand: fmt's %#v and
// encoding/json learn the types by reflection, which cost a fresh process 0.15-0.2 ms of
// every start. TestProgramKey changes every field of SeccompRule and SeccompArg by
// reflection, so a field added there and not here fails it.
func programKey(s *plan.Seccomp) string {
	n := 64
	for _, r := range s.Rules {
		n += 32 + 24*len(r.Args)
		for _, name := range r.Syscalls {
			n += 2 + len(name)
		}
	}
	b := make([]byte, 0, n)
	b = keyString(b, seccomp.Recipe())
	b = keyString(b, s.Arch)
	b = keyString(b, s.DefaultAction)
	b = keyInt(b, int64(s.DefaultErrno))
	b = keyInt(b, int64(len(s.Rules)))
	for _, r := range s.Rules {
		b = keyInt(b, int64(len(r.Syscalls)))
		for _, name := range r.Syscalls {
			b = keyString(b, name)
		}
		b = keyString(b, r.Action)
		b = keyInt(b, int64(r.Errno))
		b = keyInt(b, int64(len(r.Args)))
		for _, a := range r.Args {
			b = binary.AppendUvarint(b, uint64(a.Index))
			b = keyString(b, a.Op)
			b = binary.AppendUvarint(b, a.Value)
			b = binary.AppendUvarint(b, a.Mask)
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// keyString writes v after its length.
func keyString(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// keyInt writes v, zigzag-encoded.
func keyInt(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// buildProgram is seccomp.Build of s, through the store when there is one.
func (c *seccompCache) buildProgram(s *plan.Seccomp) ([]byte, error) {
	if c.store == nil {
		return seccomp.Build(s)
	}
	key := programKey(s)
	if p := c.store.Program(key); len(p) > 0 && len(p)%8 == 0 && len(p)/8 <= maxBPFInstructions {
		return p, nil
	}
	p, err := seccomp.Build(s)
	if err == nil {
		c.store.Keep(key, p)
	}
	return p, err
}
