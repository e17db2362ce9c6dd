package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

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

// programKey names everything seccomp.Build reads of s, and how it builds. It hashes
// Go's own syntax of them (%#v: every field by name, strings quoted, whatever fields
// SeccompRule and SeccompArg gain), not their JSON: encoding/json learning these types
// cold cost about 0.2 ms of every start.
func programKey(s *plan.Seccomp) string {
	h := sha256.New()
	fmt.Fprintf(h, "%#v", struct {
		Recipe, Arch, DefaultAction string
		DefaultErrno                int
		Rules                       []plan.SeccompRule
	}{seccomp.Recipe(), s.Arch, s.DefaultAction, s.DefaultErrno, s.Rules})
	return hex.EncodeToString(h.Sum(nil))
}

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
