package progcache

import (
	"debug/elf"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// interpreter is the program interpreter named by the running test binary, or by
// /bin/sh: glibc's ld.so on this host.
func interpreter(t *testing.T) string {
	for _, bin := range []string{"/proc/self/exe", "/bin/sh"} {
		f, err := elf.Open(bin)
		if err != nil {
			continue
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					return strings.TrimRight(string(b), "\x00")
				}
			}
		}
	}
	t.Skip("no dynamically linked binary names a program interpreter here")
	return ""
}

func auxvOf(t *testing.T, key uintptr) uint64 {
	auxv, err := unix.Auxv()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range auxv {
		if kv[0] == key {
			return uint64(kv[1])
		}
	}
	t.Fatalf("no auxv entry %d", key)
	return 0
}

// TestLoadedFromInterpreter: ld.so's file is not the binary it loaded, whether ld.so
// pointed AT_PHDR and AT_ENTRY at that binary (glibc) or left them at its own.
func TestLoadedFromInterpreter(t *testing.T) {
	ldso := interpreter(t)
	head, err := readHead(ldso)
	if err != nil {
		t.Fatal(err)
	}
	pc := uint64(reflect.ValueOf(TestLoadedFromInterpreter).Pointer())
	if loadedFrom(head, auxvOf(t, atPhdr), auxvOf(t, atEntry), pc) {
		t.Errorf("%s's headers take this binary's AT_PHDR, AT_ENTRY and code for their own", ldso)
	}
	f, err := elf.Open(ldso)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const bias = 0x7f0000000000
	phdr := uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off == 0 {
			phdr = bias + p.Vaddr + uint64(len(head[:64]))
		}
	}
	if loadedFrom(head, phdr, bias+f.Entry, pc) {
		t.Errorf("%s loaded at %#x holds this binary's code at %#x", ldso, uint64(bias), pc)
	}
	if !loadedFrom(head, phdr, bias+f.Entry, bias+f.Entry) {
		t.Errorf("%s loaded at %#x does not hold its own entry", ldso, uint64(bias))
	}
}

// TestStaticThroughInterpreter: `ld.so BINARY` starts with AT_BASE 0, /proc/self/exe
// ld.so; the identity is still the binary's and its libraries', not ld.so's alone.
func TestStaticThroughInterpreter(t *testing.T) {
	if os.Getenv("PROGCACHE_IDENTITY_CHILD") == "1" {
		id, err := binaryID()
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("\nidentity " + id + "\n")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	dynamic := false
	for _, p := range f.Progs {
		dynamic = dynamic || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !dynamic {
		t.Skip("this test binary is static: ld.so runs it as the kernel would (ldso_cgo_test.go links it dynamically)")
	}
	ldso := interpreter(t)
	cmd := exec.Command(ldso, self, "-test.run=^TestStaticThroughInterpreter$")
	cmd.Env = append(os.Environ(), "PROGCACHE_IDENTITY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", ldso, self, err, out)
	}
	_, id, ok := strings.Cut(string(out), "\nidentity ")
	id, _, _ = strings.Cut(id, "\n")
	if !ok || !strings.Contains(id, " "+self+"=") {
		t.Errorf("started by %s, the identity %q does not name %s", ldso, id, self)
	}
}
