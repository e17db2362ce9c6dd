package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/confine-sandbox/confine/tests/imagetest"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestStackFromImages: up pulls the image (an OCI layout) and runs two components from
// it; the image has no /etc/hosts, which the run's upper gets; db's volume keeps what it
// wrote across down and a second up, and ps shows the image.
func TestStackFromImages(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	stack := testenv.StackName("imgstack")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	t.Setenv("CONFINE_STORE", filepath.Join(dir, "store"))
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagetest.Image(v1.Config{Entrypoint: []string{"/probe"}},
		[]imagetest.Entry{{Name: "probe", Data: data, Mode: 0o755}, {Name: "etc", Dir: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := imagetest.WriteOCI(filepath.Join(dir, "img"), img); err != nil {
		t.Fatal(err)
	}
	vol := fmt.Sprintf("imgstack-%d", time.Now().UnixNano())
	// Registered first, so it runs after upStack's down: while db runs, rm is refused.
	t.Cleanup(func() { confine(t, "volume", "rm", vol) })
	write := func(name, body string) {
		os.WriteFile(filepath.Join(dir, name+".yaml"), []byte("version: 1\nname: "+name+"\n"+body+"syscalls: {extends: default}\n"), 0o644)
	}
	write("db", `run:
  image: oci:./img
  command: [/probe, serve:tcp/5432, "cat:/data/mark", "write:/data/mark", sleep:]
  user: "1000"
  health: {tcp: 5432}
network:
  listen: [{port: 5432/tcp, from: [web]}]
filesystem:
  write: [{path: /data, volume: `+vol+`}]
`)
	write("web", `run:
  image: oci:./img
  command: [/probe, "dial:tcp/db:5432", "cat:/etc/hosts", "write:/etc/x", sleep:]
  user: "1000"
network:
  connect: [{to: "db:5432/tcp"}]
`)

	upStack(t, dir, stack, "10.96.0.0/24", []string{"db", "web"}, "")
	res := results(t, stack, "web", "write:/etc/x")
	if !res["dial:tcp/db:5432"].OK || !strings.Contains(res["cat:/etc/hosts"].Out, "db") || res["write:/etc/x"].OK {
		t.Errorf("web from the image: %v", res)
	}
	dbRes := results(t, stack, "db", "write:/data/mark")
	if dbRes["cat:/data/mark"].OK || !dbRes["write:/data/mark"].OK {
		t.Errorf("db's first run: %v", dbRes)
	}
	if st := status(t, stack); !strings.HasPrefix(st["db"].Image, "oci:") || !strings.Contains(st["db"].Image, "@sha256:") {
		t.Errorf("ps shows no image: %+v", st["db"])
	}
	confine(t, "down", "--grace", "1s", stack)
	assertGone(t, stack)
	if out := confine(t, "volume", "ls"); !strings.Contains(out, vol) {
		t.Errorf("the volume is gone after down: %s", out)
	}

	upStack(t, dir, stack, "10.96.0.0/24", []string{"db", "web"}, "")
	if dbRes = results(t, stack, "db", "write:/data/mark"); !dbRes["cat:/data/mark"].OK {
		t.Errorf("the volume did not keep db's write across down and up: %v", dbRes)
	}
}

// TestStackHostileImageHosts: an image whose /etc/hosts is a link to a host file does not
// get the stack's names mounted where the link points: the start is refused, in
// safeTarget's words, and the host file is untouched. (resolv.conf takes the same check,
// when the component declares names.)
func TestStackHostileImageHosts(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	t.Setenv("CONFINE_STORE", filepath.Join(dir, "store"))
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(dir, "host-file")
	os.WriteFile(hostFile, []byte("the host's\n"), 0o644)
	for i, name := range []string{"hosts"} {
		img, err := imagetest.Image(v1.Config{Entrypoint: []string{"/probe"}}, []imagetest.Entry{
			{Name: "probe", Data: data, Mode: 0o755}, {Name: "etc", Dir: true}, {Name: "etc/" + name, Link: hostFile}})
		if err != nil {
			t.Fatal(err)
		}
		if err := imagetest.WriteOCI(filepath.Join(dir, "img-"+name), img); err != nil {
			t.Fatal(err)
		}
		stack := uniqueName("imghosts", i)
		os.WriteFile(filepath.Join(dir, "svc.yaml"), []byte("version: 1\nname: svc\nrun:\n  image: oci:./img-"+name+
			"\n  command: [/probe, sleep:]\n  user: \"1000\"\nsyscalls: {extends: default}\n"), 0o644)
		file := filepath.Join(dir, "stack.yaml")
		os.WriteFile(file, []byte(fmt.Sprintf("version: 1\nname: %s\nsubnet: 10.96.%d.0/24\ncomponents: [svc.yaml]\n", stack, 40+i)), 0o644)
		_, errOut, code := runConfine("up", "-d", "--wait", "20s", "--grace", "100ms", "--audit-log", filepath.Join(dir, "audit.log"), file)
		if want := "/etc/" + name + " is a symlink in the image: refused"; code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("%s a link: up exit %d, want it refused with %q:\n%s", name, code, want, errOut)
		}
		if code == 0 {
			confine(t, "down", "--grace", "1s", stack)
		}
		assertNothingLeft(t, stack)
	}
	if b, _ := os.ReadFile(hostFile); string(b) != "the host's\n" {
		t.Errorf("the host file changed: %q", b)
	}
}
