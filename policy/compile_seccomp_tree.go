package policy

import "github.com/confine-sandbox/confine/policy/seccomp"

// holdsAll reports whether every condition of d is one of a's: then a's calls all match d.
func holdsAll(a, d alt) bool {
	for _, c := range d {
		found := false
		for _, x := range a {
			if x == c {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// withAlways inserts seccomp.Always(index) into a, which compares no argument index, in order.
func withAlways(a alt, index uint) alt {
	out := make(alt, 0, len(a)+1)
	i := 0
	for i < len(a) && a[i].Index < index {
		i++
	}
	out = append(append(append(out, a[:i]...), seccomp.Always(index)), a[i:]...)
	return out
}
