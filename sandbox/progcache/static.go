package progcache

import (
	"debug/elf"
	"encoding/binary"
	"reflect"

	"golang.org/x/sys/unix"
)

// The auxiliary vector's entries of <elf.h> static reads.
const (
	atPhdr  = 3
	atBase  = 7
	atEntry = 9
)

// static reports whether the running binary is /proc/self/exe alone: started without a
// program interpreter (AT_BASE, the interpreter's load address, is 0) and loaded from
// /proc/self/exe. AT_BASE alone does not say the second: `ld.so confine run` execs
// ld.so, which has no interpreter either, and glibc's ld.so then points AT_PHDR and
// AT_ENTRY at the binary it loaded, while /proc/self/exe stays ld.so, whose identity
// alone would let every binary so started take the others' programs. /proc/self/exe's
// program headers must place the auxiliary vector's AT_PHDR and AT_ENTRY, and this
// function's code, where the kernel loaded them.
func static() bool {
	auxv, err := unix.Auxv()
	if err != nil {
		return false
	}
	var base, phdr, entry uint64
	seen := 0
	for _, kv := range auxv {
		switch kv[0] {
		case atBase:
			base, seen = uint64(kv[1]), seen|1
		case atPhdr:
			phdr, seen = uint64(kv[1]), seen|2
		case atEntry:
			entry, seen = uint64(kv[1]), seen|4
		}
	}
	if seen != 7 || base != 0 {
		return false
	}
	head, err := readHead("/proc/self/exe")
	return err == nil && loadedFrom(head, phdr, entry, uint64(reflect.ValueOf(static).Pointer()))
}

// readHead reads the first page of name: an ELF file's header and, as linkers lay them
// out, its program headers.
func readHead(name string) ([]byte, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	head := make([]byte, 4096)
	for {
		n, err := unix.Pread(fd, head, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return head[:n], nil
	}
}

// loadedFrom reports whether the 64-bit little-endian ELF file whose first bytes are head
// has no interpreter and is the one loaded at phdr (AT_PHDR) with entry (AT_ENTRY) and
// code at pc. Anything it cannot read says no: binaryID then reads the mappings.
func loadedFrom(head []byte, phdr, entry, pc uint64) bool {
	le := binary.LittleEndian
	if len(head) < 64 || string(head[:4]) != elf.ELFMAG || elf.Class(head[4]) != elf.ELFCLASS64 || elf.Data(head[5]) != elf.ELFDATA2LSB {
		return false
	}
	typ := elf.Type(le.Uint16(head[16:]))
	fileEntry, phoff := le.Uint64(head[24:]), le.Uint64(head[32:])
	phentsize, phnum := uint64(le.Uint16(head[54:])), uint64(le.Uint16(head[56:]))
	if phentsize != 56 || phnum == 0 || phoff > uint64(len(head)) || phnum*phentsize > uint64(len(head))-phoff {
		return false
	}
	type load struct{ vaddr, memsz uint64 }
	var texts []load
	phdrVaddr, found := uint64(0), false
	for i := range phnum {
		p := head[phoff+i*phentsize:]
		off, vaddr, filesz, memsz := le.Uint64(p[8:]), le.Uint64(p[16:]), le.Uint64(p[32:]), le.Uint64(p[40:])
		switch elf.ProgType(le.Uint32(p)) {
		case elf.PT_INTERP:
			return false
		case elf.PT_PHDR:
			phdrVaddr, found = vaddr, true
		case elf.PT_LOAD:
			if !found && off <= phoff && phoff-off < filesz {
				phdrVaddr, found = vaddr+(phoff-off), true
			}
			if elf.ProgFlag(le.Uint32(p[4:]))&elf.PF_X != 0 {
				texts = append(texts, load{vaddr, memsz})
			}
		}
	}
	if !found || phdr < phdrVaddr || typ != elf.ET_EXEC && typ != elf.ET_DYN {
		return false
	}
	bias := phdr - phdrVaddr // the load address of an ET_DYN (static-pie), 0 for an ET_EXEC
	if typ == elf.ET_EXEC && bias != 0 || entry != bias+fileEntry {
		return false
	}
	for _, t := range texts {
		if pc >= bias+t.vaddr && pc-(bias+t.vaddr) < t.memsz {
			return true
		}
	}
	return false
}
