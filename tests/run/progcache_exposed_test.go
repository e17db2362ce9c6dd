//go:build linux

package run_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestProgramStoreNotWritable: a component whose policy makes the directory of the kept
// seccomp programs writable (the directory's parent, or the same parent through a
// symlink), or the directory of the kept Plans, is refused before it starts: on its idmapped bind the component's root is
// host root, and an entry it wrote there would be taken by a later start as another
// policy's filter. A read-only bind of it runs.
func TestProgramStoreNotWritable(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // the init stage is not host root
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	store := filepath.Join(dir, "store")
	cache := filepath.Join(store, "seccomp")
	plans := filepath.Join(dir, "plans") // the kept Plans' directory, elsewhere
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(plans, 0o700); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(dir, "alias")
	if err := os.Symlink(store, alias); err != nil {
		t.Fatal(err)
	}
	run := func(name, fs string, args ...string) (int, string, string) {
		t.Helper()
		file := filepath.Join(dir, name+".yaml")
		src := "version: 1\nname: " + name + "\nrun: {user: \"0:0\", command: [\"" + probeDir + "/probe\"]}\nfilesystem: {" + fs + "}\nsyscalls: {extends: default}\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return runFile(t, keptEnv(cache, plans), file, args...)
	}
	if code, _, stderr := run("plain", "read: ["+probeDir+"]", "pid"); code != 0 {
		t.Fatalf("a plain run: exit %d: %s", code, stderr)
	}
	kept := keptIn(cache)
	if len(kept) != 1 {
		t.Fatalf("the plain run kept %v, want one program", kept)
	}
	entry, _ := os.ReadFile(kept[0])
	for _, c := range []struct{ name, fs, inside string }{
		{"parent", "read: [" + probeDir + "], write: [" + store + "]", cache + "/planted-parent"},
		{"alias", "read: [" + probeDir + "], tmpfs: [/data], bind: [{source: " + alias + ", target: /data/c, write: true}]", "/data/c/seccomp/planted-alias"},
		{"entry", "read: [" + probeDir + "], tmpfs: [/data], bind: [{source: " + kept[0] + ", target: /data/e, write: true}]", "/data/e"},
		{"plans", "read: [" + probeDir + "], write: [" + plans + "]", plans + "/planted-plans"},
	} {
		planted := filepath.Join(cache, "planted-"+c.name)
		if c.name == "plans" {
			planted = filepath.Join(plans, "planted-plans")
		}
		if c.name == "entry" {
			planted = kept[0]
		}
		code, out, stderr := run(c.name, c.fs, "write:"+c.inside)
		if code != 2 || !strings.Contains(stderr, "seccomp programs") {
			var st syscall.Stat_t
			owner := "none"
			if syscall.Stat(planted, &st) == nil {
				owner = fmt.Sprintf("host uid %d", st.Uid)
			}
			t.Errorf("%s: exit %d (planted entry: %s) %s %s; want exit 2 naming the store", c.name, code, owner, out, stderr)
		}
		if data, err := os.ReadFile(planted); c.name == "entry" && !bytes.Equal(data, entry) || c.name != "entry" && err == nil {
			t.Errorf("%s: the component wrote %s in the store", c.name, planted)
		}
	}
	if code, out, stderr := run("readonly", "read: ["+probeDir+", "+store+"]", "ls:"+cache); code != 0 {
		t.Errorf("a read of the store: exit %d: %s %s", code, out, stderr)
	}
}
