package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadPasswdFile: the first line of a name wins, malformed lines are skipped, and
// only a regular file is read (an image's /etc/passwd is untrusted).
func TestReadPasswdFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "passwd")
	data := "root:x:0:0:root:/root:/bin/sh\nredis:x:103:111::/var/lib/redis:/usr/sbin/nologin\nredis:x:9:9::/:/bin/sh\nbad:x:nope:1::/:\nshort:x:5\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	users, err := readPasswdFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if users["redis"] != (passwdEntry{103, 111}) || users["root"] != (passwdEntry{0, 0}) {
		t.Errorf("users %v", users)
	}
	for _, n := range []string{"bad", "short"} {
		if _, ok := users[n]; ok {
			t.Errorf("malformed line for %s was read: %v", n, users[n])
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, err := readPasswdFile(link); err == nil {
		t.Error("a symlinked passwd file was followed")
	}
	if _, err := readPasswdFile(dir); err == nil {
		t.Error("a directory was read as a passwd file")
	}
}
