package policy

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// image checks run.image and the volume entries: an image replaces run.rootfs, and a
// volume name becomes a directory of the store.
func (v *validator) image() {
	r := v.c.Run
	if r.Image != "" && r.Rootfs != "" {
		v.add("run.image", "run.image and run.rootfs both give the root; keep one")
	}
	if r.Image != "" && (hasControl(r.Image) || strings.ContainsAny(r.Image, " \t")) {
		v.add("run.image", "expected an image reference (NAME[:TAG][@sha256:…], oci:PATH[:TAG], docker-archive:PATH), found %q", r.Image)
	}
	seen := map[string]string{}
	for i, p := range v.c.Filesystem.Write {
		name, ok := v.c.Filesystem.Volumes[p]
		if !ok {
			continue
		}
		field := fmt.Sprintf("filesystem.write[%d].volume", i)
		if !volumeName().MatchString(name) {
			v.add(field, "expected a volume name of letters, digits, '_', '.' and '-' (at most 64, not starting with a symbol), found %q", name)
		}
		if prev, dup := seen[name]; dup {
			v.add(field, "volume %s is already mounted at %s; a volume has one path per component", name, prev)
		}
		seen[name] = p
	}
}

// recordVolume keeps a {path, volume} write entry's volume: f.Volumes[path] = name.
// A volume on a read entry is an error: a volume is where a component writes.
func (f *Filesystem) recordVolume(d *decoder, item *yaml.Node, path string, e pathEntry) {
	if !strings.Contains(path, ".write[") {
		d.errorf(item, path+".volume", "a volume is a write path; move this entry to filesystem.write")
		return
	}
	if f.Volumes == nil {
		f.Volumes = map[string]string{}
	}
	f.Volumes[e.Path] = e.Volume
}
