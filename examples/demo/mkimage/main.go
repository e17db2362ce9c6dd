// Command mkimage builds the demo's image, an OCI layout, from the probe binary: the
// demo runs db from it, so `make demo` needs no registry.
//
//	go run ./examples/demo/mkimage PROBE OUTDIR
package main

import (
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/confine-sandbox/confine/tests/imagetest"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mkimage PROBE OUTDIR")
		os.Exit(1)
	}
	if err := build(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func build(probe, out string) error {
	bin, err := os.ReadFile(probe)
	if err != nil {
		return err
	}
	img, err := imagetest.Image(v1.Config{
		Entrypoint:   []string{"/probe"},
		User:         "db",
		Env:          []string{"PGDATA=/var/lib/db"},
		ExposedPorts: map[string]struct{}{"5432/tcp": {}},
		Volumes:      map[string]struct{}{"/var/lib/db": {}},
	}, []imagetest.Entry{
		{Name: "etc", Dir: true},
		{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/sbin/nologin\ndb:x:1000:1000:db:/var/lib/db:/sbin/nologin\n")},
		{Name: "etc/group", Data: []byte("root:x:0:\ndb:x:1000:\n")},
		{Name: "probe", Data: bin, Mode: 0o755},
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return imagetest.WriteOCI(out, img)
}
