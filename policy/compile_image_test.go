package policy

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
)

// fakeImages resolves every reference to one image, and records what it was asked.
type fakeImages struct {
	facts ImageFacts
	asked []string
}

func (f *fakeImages) ResolveImage(ref string) (*ImageFacts, error) {
	f.asked = append(f.asked, ref)
	if strings.Contains(ref, "missing") {
		return nil, fmt.Errorf("image %s is not in the store (confine pull %s)", ref, ref)
	}
	c := f.facts
	return &c, nil
}

func imageFacts() ImageFacts {
	return ImageFacts{Digest: "sha256:m", ConfigDigest: "sha256:c", DiffIDs: []string{"sha256:a", "sha256:b"},
		Entrypoint: []string{"/bin/server"}, Cmd: []string{"--port", "80"}, Env: []string{"PATH=/bin", "MODE=image"},
		User: "app", UID: 1000, GID: 1001, WorkingDir: "/srv", ExposedPorts: []string{"80/tcp"}, Volumes: []string{"/data"}}
}

func compileImagePolicy(t *testing.T, src string, r ImageResolver) (*plan.Component, error) {
	t.Helper()
	s, err := Open(fstest.MapFS{"dir/api.yaml": {Data: []byte(src)}}, "dir/api.yaml")
	if err != nil {
		return nil, err
	}
	p, err := CompileWith(s, r)
	if err != nil {
		return nil, err
	}
	return &p.Components[0], nil
}

// TestCompileImage: the image's config fills in only what the policy leaves out, grants
// no port or path, and the Plan pins the digests.
func TestCompileImage(t *testing.T) {
	r := &fakeImages{facts: imageFacts()}
	src := "version: 1\nname: api\nrun: {image: oci:./img, env: {MODE: policy}}\nfilesystem:\n  write: [/cache, {path: /data, volume: apidata}]\nsyscalls: {extends: default}\n"
	c, err := compileImagePolicy(t, src, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.asked) != 1 || r.asked[0] != "oci:dir/img" {
		t.Errorf("resolved %v, want the oci path joined to the policy's directory", r.asked)
	}
	pr := c.Process
	if strings.Join(pr.Args, " ") != "/bin/server --port 80" || pr.UID != 1000 || pr.GID != 1001 || pr.Cwd != "/srv" {
		t.Errorf("process %+v", pr)
	}
	if env := strings.Join(pr.Env, " "); env != "MODE=policy PATH=/bin" {
		t.Errorf("env %q: the image's under the policy's", env)
	}
	im := c.Image
	if im == nil || im.Digest != "sha256:m" || im.ConfigDigest != "sha256:c" || len(im.DiffIDs) != 2 || im.User != "app" {
		t.Fatalf("image pins %+v", im)
	}
	if len(c.Net.Firewall.Flows) != 0 || len(c.Landlock.BindTCP) != 0 {
		t.Errorf("ExposedPorts granted something: %+v %v", c.Net.Firewall.Flows, c.Landlock.BindTCP)
	}
	kinds := map[string]string{}
	for _, m := range c.Mounts {
		kinds[m.Target] = m.Type
		if m.Type == "volume" && m.Volume != "apidata" {
			t.Errorf("volume mount %+v", m)
		}
	}
	if kinds["/"] != "overlay" || kinds["/cache"] != "upper" || kinds["/data"] != "volume" {
		t.Errorf("mounts %v", kinds)
	}
	// Deterministic: the same policy and the same facts give the same Plan.
	c2, _ := compileImagePolicy(t, src, &fakeImages{facts: imageFacts()})
	if !bytes.Equal(planJSON(t, &plan.Plan{Components: []plan.Component{*c}}), planJSON(t, &plan.Plan{Components: []plan.Component{*c2}})) {
		t.Error("two compiles differ")
	}

	// The policy's own command, user and workdir win.
	c, err = compileImagePolicy(t, "version: 1\nname: api\nrun: {image: alpine, command: [/bin/other], user: \"5:5\", workdir: /tmp}\nsyscalls: {extends: default}\n", r)
	if err != nil || c.Process.Args[0] != "/bin/other" || c.Process.UID != 5 || c.Process.Cwd != "/tmp" || c.Image.User != "" {
		t.Errorf("policy values: %v %+v", err, c.Process)
	}
}

// TestImageErrors: each mistake is an error at run.image's position.
func TestImageErrors(t *testing.T) {
	r := &fakeImages{facts: imageFacts()}
	for src, want := range map[string]string{
		"run: {image: alpine, rootfs: ./root}":                                  "dir/api.yaml:3:14: run.image: run.image and run.rootfs both give the root",
		"run: {image: missing:1}":                                               "dir/api.yaml:3:14: run.image: image missing:1 is not in the store",
		"run: {image: alpine}\nfilesystem: {write: [{path: /d, volume: ../x}]}": "filesystem.write[0].volume: expected a volume name",
		"run: {image: alpine}\nfilesystem: {read: [{path: /d, volume: v}]}":     "a volume is a write path",
	} {
		_, err := compileImagePolicy(t, "version: 1\nname: api\n"+src+"\nsyscalls: {extends: default}\n", r)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", src, err, want)
		}
	}
	if _, err := compileImagePolicy(t, "version: 1\nname: api\nrun: {image: alpine}\nsyscalls: {extends: default}\n", nil); err == nil || !strings.Contains(err.Error(), "run.image: an image needs the image store") {
		t.Errorf("Compile without a resolver: %v", err)
	}
	noCmd := &fakeImages{facts: ImageFacts{Digest: "sha256:m"}}
	if _, err := compileImagePolicy(t, "version: 1\nname: api\nrun: {image: alpine}\nsyscalls: {extends: default}\n", noCmd); err == nil || !strings.Contains(err.Error(), "no Entrypoint or Cmd") {
		t.Errorf("an image without a command: %v", err)
	}
}
