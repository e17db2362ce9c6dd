package policy

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const memberSrc = "version: 1\nname: %s\nrun: {command: [/app/a]}\nfilesystem: {read: [/app]}\nsyscalls: {extends: default}\n"

// TestTreeOnDisk loads a stack from a real directory through Tree: symlinks that leave
// the directory (relative or absolute), a FIFO, a socket and a directory are refused at
// the stack's components[i], with nothing of the outside file printed and no wait on the
// FIFO; a symlink that stays inside and a plain memberSrc load.
func TestTreeOnDisk(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "stack")
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	secret := filepath.Join(tmp, "secret.yaml")
	must(t, os.WriteFile(secret, []byte("root:SECRET-HASH:19000:0:99999:7:::\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(strings.ReplaceAll(memberSrc, "%s", "a")), 0o644))
	must(t, os.Symlink("../secret.yaml", filepath.Join(dir, "up.yaml")))
	must(t, os.Symlink(secret, filepath.Join(dir, "abs.yaml")))
	must(t, os.Symlink("../../secret.yaml", filepath.Join(dir, "sub", "deep.yaml")))
	must(t, os.Symlink("sub", filepath.Join(dir, "subdir")))
	must(t, os.Symlink("..", filepath.Join(dir, "out")))                     // a directory symlink that climbs out
	must(t, os.Symlink("../a.yaml", filepath.Join(dir, "sub", "back.yaml"))) // stays inside
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644))
	l, err := net.Listen("unix", filepath.Join(dir, "sock.yaml"))
	must(t, err)
	defer l.Close()
	stack := "version: 1\nname: s\nsubnet: 10.9.0.0/24\ncomponents:\n" +
		"  - up.yaml\n  - abs.yaml\n  - sub/deep.yaml\n  - subdir/../../secret.yaml\n" +
		"  - fifo.yaml\n  - sock.yaml\n  - sub\n  - a.yaml\n  - sub/back.yaml\n  - out/secret.yaml\n"
	file := filepath.Join(dir, "stack.yaml")
	must(t, os.WriteFile(file, []byte(stack), 0o644))

	tree, err := OpenTree(file)
	must(t, err)
	defer tree.Close()
	done := make(chan struct{})
	var s *Stack
	go func() {
		defer close(done)
		s, err = LoadStack(tree, file)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // not a timing assertion: a hang on the FIFO
		t.Fatal("loading waited on the FIFO")
	}
	got := err.Error()
	for _, want := range []string{
		file + `:5:5: components[0]: cannot read component "up.yaml": it lies outside the directory of the file that names it`,
		file + `:6:5: components[1]: cannot read component "abs.yaml": it lies outside the directory`,
		file + `:7:5: components[2]: cannot read component "sub/deep.yaml": it lies outside the directory`,
		file + `:8:5: components[3]: "subdir/../../secret.yaml" leaves the stack file's directory`,
		file + `:9:5: components[4]: cannot read component "fifo.yaml": it is a FIFO, not a regular file`,
		file + `:10:5: components[5]: cannot read component "sock.yaml": it is a socket, not a regular file`,
		file + `:11:5: components[6]: cannot read component "sub": it is a directory, not a regular file`,
		file + `:14:5: components[9]: cannot read component "out/secret.yaml": it lies outside the directory`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "SECRET") || strings.Count(got, "\n") != 7 {
		t.Errorf("want exactly the 8 refusals, nothing of the secret:\n%s", got)
	}
	if len(s.Members) != 2 || s.Members[1].File != filepath.Join(dir, "sub/back.yaml") || s.Members[1].Name != "a" {
		t.Errorf("members: %+v", s.Members)
	}
}

// TestTreeTopFile: the file the user names resolves inside its own directory too (in a
// checkout of an untrusted change it may be a link to /etc/shadow), and is refused when
// it is not a regular file.
func TestTreeTopFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	must(t, os.WriteFile(real, []byte(strings.ReplaceAll(memberSrc, "%s", "a")), 0o644))
	must(t, os.Symlink("real.yaml", filepath.Join(dir, "near.yaml")))
	far := filepath.Join(t.TempDir(), "far.yaml")
	must(t, os.Symlink(real, far))
	fifo := filepath.Join(dir, "fifo.yaml")
	must(t, unix.Mkfifo(fifo, 0o644))
	for file, want := range map[string]string{
		real:                            "",
		filepath.Join(dir, "near.yaml"): "",
		far:                             far + ": cannot read the file: it is a symlink that leads out of its own directory; name the file it points to",
		fifo:                            fifo + ": cannot read the file: it is a FIFO, not a regular file",
		dir:                             dir + ": cannot read the file: it is a directory, not a regular file",
		dir + "/":                       dir + "/: cannot read the file: it is a directory, not a regular file",
		"/dev/null":                     "/dev/null: cannot read the file: it is a character device, not a regular file",
	} {
		tree, err := OpenTree(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		got := Check(tree, file).Error()
		tree.Close()
		if got != want {
			t.Errorf("%s: got %q, want %q", file, got, want)
		}
	}
	// Relative names, as typed in a shell.
	t.Chdir(filepath.Dir(dir))
	for _, file := range []string{"./" + filepath.Base(dir) + "/real.yaml", filepath.Base(dir) + "//near.yaml"} {
		tree, err := OpenTree(file)
		must(t, err)
		if errs := Check(tree, file); len(errs) > 0 {
			t.Errorf("%s: %v", file, errs)
		}
		tree.Close()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
