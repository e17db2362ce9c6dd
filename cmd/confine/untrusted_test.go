//go:build !confine_slim

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// secretLines stand in for /etc/shadow: a file outside the stack's directory that the
// commands must never print, whichever way the stack names it.
var secretLines = []string{"root:$6$SECRET-HASH:19000:0:99999:7:::", "daemon:*:SECRET-2:0:99999:7:::"}

// TestUntrustedStackNamesOutsideFiles: every command that reads a stack refuses one that
// names a file outside its directory (absolute, "..", a symlink leaving it, /etc/shadow
// itself), exits 1, names the stack's components[i] and prints no line of the file.
func TestUntrustedStackNamesOutsideFiles(t *testing.T) {
	tmp := t.TempDir()
	secret := filepath.Join(tmp, "shadow")
	if err := os.WriteFile(secret, []byte(strings.Join(secretLines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "pr")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "innocent.yaml")); err != nil {
		t.Fatal(err)
	}
	base := "version: 1\nname: shop\nsubnet: 10.88.0.0/24\ncomponents: [%s]\n"
	good := filepath.Join(tmp, "good.yaml")
	if err := os.WriteFile(good, []byte("version: 1\nname: api\nrun: {command: [/app/api]}\nfilesystem: {read: [/app]}\nsyscalls: {extends: default}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{secret, "../shadow", "innocent.yaml", "/etc/shadow"} {
		stack := filepath.Join(dir, "stack.yaml")
		if err := os.WriteFile(stack, []byte(strings.Replace(base, "%s", member, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"check", stack}, {"explain", stack}, {"compile", stack}, {"preflight", stack},
			{"up", stack}, {"run", stack}, {"audit", "report", stack}, {"audit", "diff", good, stack},
		} {
			code, out, errOut := run(args...)
			name := strings.Join(args[:len(args)-1], " ") + " [" + member + "]"
			if code != 1 {
				t.Errorf("%s: exit %d, want 1", name, code)
			}
			if out != "" {
				t.Errorf("%s: stdout %q, want nothing", name, out)
			}
			if !strings.Contains(errOut, stack+":4:14: components[0]: ") {
				t.Errorf("%s: the refusal does not stand at components[0]:\n%s", name, errOut)
			}
			if strings.Contains(errOut+out, "SECRET") {
				t.Errorf("%s: printed the outside file:\n%s", name, errOut)
			}
		}
	}
}

// TestUntrustedLinkedStack: the file a CI job names may itself be the change's symlink
// to a host file; it is refused, and nothing of the file is printed.
func TestUntrustedLinkedStack(t *testing.T) {
	tmp := t.TempDir()
	secret := filepath.Join(tmp, "shadow")
	if err := os.WriteFile(secret, []byte(strings.Join(secretLines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "pr")
	stack := filepath.Join(dir, "stack.yaml")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../shadow", stack); err != nil {
		t.Fatal(err)
	}
	want := stack + ": cannot read the file: it is a symlink that leads out of its own directory; name the file it points to"
	for _, args := range [][]string{{"check", stack}, {"explain", stack}, {"audit", "diff", stack, stack}} {
		code, out, errOut := run(args...)
		if code != 1 || out != "" || strings.TrimSpace(errOut) != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1, nothing, %q", args[0], code, out, errOut, want)
		}
	}
}

// TestUntrustedFIFO: a FIFO named as a policy, or as a stack's component, is refused
// without waiting for a writer.
func TestUntrustedFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	stack := filepath.Join(dir, "stack.yaml")
	if err := os.WriteFile(stack, []byte("version: 1\nname: s\nsubnet: 10.88.0.0/24\ncomponents: [fifo.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		fifo:  fifo + ": cannot read the file: it is a FIFO, not a regular file",
		stack: stack + `:4:14: components[0]: cannot read component "fifo.yaml": it is a FIFO, not a regular file`,
	} {
		done := make(chan struct{})
		var code int
		var errOut string
		go func() {
			defer close(done)
			code, _, errOut = run("check", file)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second): // not a timing assertion: a hang on open(2)
			t.Fatalf("check %s waited on the FIFO", file)
		}
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("check %s: exit %d, stderr %q, want 1 and %q", file, code, errOut, want)
		}
	}
}

// TestUntrustedPlan: a Plan given to audit diff is input too. An invisible character in
// any of its strings is refused, and a decoding error repeats only an excerpt.
func TestUntrustedPlan(t *testing.T) {
	code, out, _ := run("compile", "../../examples/shop/api.yaml")
	if code != 0 {
		t.Fatal("compile failed")
	}
	dir := t.TempDir()
	write := func(name, data string) string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	good := write("good.json", out)
	long := strings.Repeat("abcdefghij", 50)
	for name, tc := range map[string]struct{ data, want string }{
		"bidi.json":  {strings.Replace(out, `"/app/api"`, `"/app/api\u202e"`, 1), `contains a bidirectional control (U+202E) at character 9 of "/app/api\u202e"`},
		"field.json": {strings.Replace(out, `{`, `{"`+long+`": 1, `, 1), `json: unknown field "abcdefghijabcdefghijabcdefghijabcdefghij"…`},
	} {
		code, stdout, stderr := run("audit", "diff", good, write(name, tc.data))
		if code != 1 || stdout != "" || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, long[:41]) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1, nothing, and %q", name, code, stdout, stderr, tc.want)
		}
	}
	if code, _, stderr := run("audit", "diff", good, "/dev/null"); code != 1 || !strings.Contains(stderr, "/dev/null: cannot read the file: it is a character device, not a regular file") {
		t.Errorf("audit diff of a device: exit %d, %s", code, stderr)
	}
}

// TestUntrustedLinkedPlan: a Plan in JSON is opened as a policy is, beneath its own
// directory. A change's symlink to a JSON file outside it is refused by audit diff and
// run --plan without repeating any of it, and one to a FIFO outside is refused at once,
// neither waited on nor read. The shell's own pipes (/dev/fd/N) are still read.
func TestUntrustedLinkedPlan(t *testing.T) {
	tmp := t.TempDir()
	secret := filepath.Join(tmp, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"SECRET_token_value": "x"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(tmp, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "pr")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"abs.json": secret, "rel.json": "../secret.json", "fifo.json": "../fifo"} {
		link := filepath.Join(dir, name)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"audit", "diff", "../../examples/shop/api.yaml", link}, {"run", "--plan", link}} {
			done := make(chan struct{})
			var code int
			var out, errOut string
			go func() {
				defer close(done)
				code, out, errOut = run(args...)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second): // not a timing assertion: a hang on the FIFO
				t.Fatalf("%s %s: waited on the FIFO", strings.Join(args[:2], " "), name)
			}
			if code != 1 || out != "" || strings.Contains(errOut, "SECRET") || !strings.Contains(errOut, "symlink that leads out of its own directory") {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want 1, nothing, the refusal of the link", strings.Join(args[:2], " "), name, code, out, errOut)
			}
		}
	}
}
