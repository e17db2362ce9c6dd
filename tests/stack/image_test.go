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
