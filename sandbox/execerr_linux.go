package sandbox

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// explainExec turns execve's bare error into one that says what is missing. ENOENT
// from execve means the program or the interpreter it names is absent: for an ELF
// binary that is its PT_INTERP loader, for a script its #! line. It runs in the new
// root, after Landlock and seccomp, so it sees exactly what the component would.
func explainExec(prog string, err error) string {
	if !errors.Is(err, unix.ENOENT) {
		return fmt.Sprintf("%s: %v", prog, err)
	}
	if _, serr := os.Stat(prog); serr != nil {
		return fmt.Sprintf("%s: %v: the program is not in the sandbox; list it (or its directory) under filesystem.read", prog, err)
	}
	interp := interpreterOf(prog)
	if interp == "" {
		return fmt.Sprintf("%s: %v", prog, err)
	}
	if _, serr := os.Stat(interp); serr == nil {
		// The loader is there; a library or a loader it names in turn is not.
		return fmt.Sprintf("%s: %v (its interpreter %s is present; a file it needs is not)", prog, err, interp)
	}
	dir := interp[:strings.LastIndexByte(interp, '/')]
	return fmt.Sprintf("the ELF interpreter %s of %s is not in the sandbox: add extends: [host-runtime] or filesystem.read: [%s, /usr/lib]", interp, prog, or(dir, "/"))
}

// interpreterOf is the loader an ELF binary names (PT_INTERP), or the program a script's
// #! line names, or "" for a static binary or an unreadable file.
func interpreterOf(prog string) string {
	f, err := os.Open(prog)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("#!")) {
		line, _, _ := bufio.NewReader(bytes.NewReader(head[2:])).ReadLine()
		if fields := strings.Fields(string(line)); len(fields) > 0 {
			if inside := interpreterOf(fields[0]); inside != "" && fileMissing(inside) {
				return inside // #!/usr/bin/python3, present, whose own loader is not
			}
			return fields[0]
		}
		return ""
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return ""
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				return ""
			}
			return string(bytes.TrimRight(data, "\x00"))
		}
	}
	return ""
}

func fileMissing(p string) bool {
	_, err := os.Stat(p)
	return err != nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
