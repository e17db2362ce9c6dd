//go:build linux

package run_test

import (
	"debug/elf"
	"testing"
)

// TestBinaryStatic: the confine these suites run is linked as `make build` links it,
// statically (tests/testenv.BuildFlags): no interpreter, no shared library to load, so
// neither the CLI's exec nor the C stage's runs the dynamic loader.
func TestBinaryStatic(t *testing.T) {
	f, err := elf.Open(confineBin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is dynamically linked", confineBin, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q (%v)", confineBin, libs, err)
	}
}
