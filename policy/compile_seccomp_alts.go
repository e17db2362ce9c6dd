package policy

import "github.com/confine-sandbox/confine/policy/seccomp"

// altSet is one syscall's allowed alternatives, in the order first allowed, indexed by
// altKey so that adding or taking back an alternative does not rescan the others.
type altSet struct {
	alts     []alt
	gone     []bool           // alternatives a deny took back
	keys     map[string][]int // altKey → indexes of the live alternatives with it
	live     int
	widened  bool // compareArg0 has run
	absolute bool // an unconditional alternative absorbed the rest
}

// add adds conds (whose altKey is key); an unconditional alt absorbs the rest.
func (s *altSet) add(conds alt, key string) {
	if s.absolute || len(s.keys[key]) > 0 {
		return
	}
	if len(conds) == 0 { // no deny has empty conditions, so this one needs no key
		*s = altSet{alts: []alt{{}}, gone: []bool{false}, live: 1, absolute: true}
		return
	}
	if s.keys == nil {
		s.keys = map[string][]int{}
	}
	s.keys[key] = append(s.keys[key], len(s.alts))
	s.alts = append(s.alts, conds)
	s.gone = append(s.gone, false)
	s.live++
}

// remove takes back the alternatives whose altKey is key, returning how many are left.
func (s *altSet) remove(key string) int {
	for _, i := range s.keys[key] {
		s.gone[i] = true
		s.live--
	}
	delete(s.keys, key)
	return s.live
}

// compareArg0 makes every alternative compare argument 0: libseccomp 2.5 tries a deny
// before an allow only when the allow's first compared argument comes no later than the
// deny's, so every allow of a syscall with argument denies compares argument 0, with
// "arg0 >= 0" if it did not already. Afterwards every alternative starts with argument
// 0, so a second call changes nothing.
func (s *altSet) compareArg0() {
	if s.widened {
		return
	}
	s.widened, s.absolute = true, false
	s.keys = map[string][]int{}
	for i, a := range s.alts {
		if s.gone[i] {
			continue
		}
		if len(a) == 0 || a[0].Index != 0 {
			s.alts[i] = append(alt{{Index: 0, Op: "ge", Value: 0}}, a...)
		}
		k := altKey(s.alts[i])
		s.keys[k] = append(s.keys[k], i)
	}
}

// widen rewrites the alternatives so that libseccomp 2.5 tries each of the syscall's
// argument denies before an allow it overlaps (policy/seccomp/tree.go), and
// returns how many are left. An alternative all of a deny's conditions hold for is taken
// back (the deny covers it: libseccomp would drop one of the two, or refuse both with
// "file exists"). Where the alternative and a deny part, the alternative must compare
// an argument no earlier than the deny's: where it ends first, or compares a later
// argument, it gets the always-true "argument >= 0" on the deny's argument there, which
// libseccomp ranks after every deny's node on that argument. What is left (the two
// compare one argument where they part, in an order libseccomp does not keep) validate
// refuses (seccomp.Mixes). Run after compareArg0.
func (s *altSet) widen(denies []alt) int {
	s.keys = map[string][]int{}
	for i, a := range s.alts {
		if s.gone[i] {
			continue
		}
		w, ok := widenAlt(a, denies)
		k := altKey(w)
		if !ok || len(s.keys[k]) > 0 { // covered, or (widened) one already there
			s.gone[i] = true
			s.live--
			continue
		}
		s.alts[i] = w
		s.keys[k] = append(s.keys[k], i)
	}
	return s.live
}

// widenAlt is a widened as widen says; ok is false when a deny covers it.
func widenAlt(a alt, denies []alt) (alt, bool) {
	for again := true; again; {
		again = false
		for _, d := range denies {
			if holdsAll(a, d) {
				return nil, false
			}
			// d is not a's prefix (holdsAll), so p < len(d); each insertion is of an
			// argument a does not compare, so this ends.
			if p := seccomp.Parting(a, d); p == len(a) || a[p].Index > d[p].Index {
				a, again = withAlways(a, d[p].Index), true
			}
		}
	}
	return a, true
}
