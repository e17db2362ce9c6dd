package policy

import "testing"

func TestBaselineSyscalls(t *testing.T) {
	b, err := BaselineSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"read", "openat", "clone"} {
		if !b[want] {
			t.Errorf("baseline lacks %s", want)
		}
	}
	for _, not := range []string{"mount", "ptrace", "clone3", "bpf"} {
		if b[not] {
			t.Errorf("baseline allows %s", not)
		}
	}
}
