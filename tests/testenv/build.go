package testenv

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// BuildFlags are the Makefile's BUILD_FLAGS, with which `make build` links confine
// statically; the suites test the binary so built (TestBuildFlags holds them equal).
var BuildFlags = []string{"-tags=netgo,osusergo", "-ldflags=-extldflags=-static"}

// SlimBuildFlags are the Makefile's SLIM_FLAGS, which build bin/confine, the slim binary
// that hands every command but `confine run` to confine-full (cmd/confine/slim.go), with
// SlimLinkFlag.
var SlimBuildFlags = []string{"-tags=confine_slim,netgo,osusergo"}

// SlimLinkFlag is the -ldflags of the Makefile's slim build for the confine binary full:
// static, and paired with full by its GNU build ID (the Makefile's PAIR).
func SlimLinkFlag(full string) (string, error) {
	pair, err := Pair(full)
	if err != nil {
		return "", err
	}
	return "-ldflags=-extldflags=-static -B 0x" + pair, nil
}

// Pair is the Makefile's PAIR for the binary full: the first 16 bytes of the last part of
// its Go build ID, in hex.
func Pair(full string) (string, error) {
	out, err := exec.Command("go", "tool", "buildid", full).Output()
	if err != nil {
		return "", fmt.Errorf("go tool buildid %s: %w", full, err)
	}
	id := strings.TrimSpace(string(out))
	id = id[strings.LastIndex(id, "/")+1:]
	if len(id) < 16 {
		return "", fmt.Errorf("%s: build ID %q is short", full, id)
	}
	return hex.EncodeToString([]byte(id[:16])), nil
}

// Binaries builds confine-full, the slim confine paired with it, and the static probe
// (tests/probe) into a new directory named after prefix, readable by anyone, since
// components run as unprivileged ids: DIR/confine-full, DIR/confine and DIR/probe. It is for a TestMain of a package under tests/ (the paths are relative to
// it), which removes DIR when its tests are done; a failed build panics with its output.
func Binaries(prefix string) string {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755)
	for _, b := range []struct {
		out, pkg, cgo string
		flags         []string
	}{
		{"confine-full", "../../cmd/confine", "1", BuildFlags}, // libseccomp, linked in
		{"confine", "../../cmd/confine", "1", SlimBuildFlags},
		{"probe", "../probe", "0", nil}, // static: it runs in any root
	} {
		flags := b.flags
		if b.out == "confine" { // paired with the confine-full just built
			link, err := SlimLinkFlag(filepath.Join(dir, "confine-full"))
			if err != nil {
				os.RemoveAll(dir)
				panic(err)
			}
			flags = append(slices.Clip(flags), link)
		}
		args := append(append([]string{"build"}, flags...), "-o", filepath.Join(dir, b.out), b.pkg)
		build := exec.Command("go", args...)
		build.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := build.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			os.Stderr.Write(out)
			panic(err)
		}
	}
	return dir
}

// Run runs bin with args and returns its standard output; a non-zero exit fails t with
// both outputs.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// Main is a root suite's TestMain: it builds the binaries (Binaries), hands their
// directory to use, runs the tests, forgets the suite's own stacks' id records
// (ForgetStacks), removes the directory and exits with the tests' status.
func Main(m *testing.M, prefix string, use func(dir string)) {
	dir := Binaries(prefix)
	use(dir)
	code := m.Run()
	ForgetStacks()
	os.RemoveAll(dir)
	os.Exit(code)
}
