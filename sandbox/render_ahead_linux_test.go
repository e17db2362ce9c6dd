package sandbox

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
)

// defaultMounts is the mount table policy compiles for a rootfs-less component.
func defaultMounts(t *testing.T) []plan.Mount {
	t.Helper()
	src := "version: 1\nname: a\nrun: {command: [/bin/true]}\nfilesystem: {read: [/bin]}\nsyscalls: {extends: default}\n"
	s, err := policy.Open(fstest.MapFS{"a.yaml": {Data: []byte(src)}}, "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p.Components[0].Mounts
}

// TestProcAhead: the ops may take the spare's /proc (stage_ahead.c) for the Plan's
// default mounts, and not when the proc, what lies beneath /proc or the masks' source
// (/dev/null) is anything else: there the stage's ops build them.
func TestProcAhead(t *testing.T) {
	base := defaultMounts(t)
	if !procAhead(base) {
		t.Fatalf("the default mounts do not take the /proc made ahead: %+v", base)
	}
	at := func(ms []plan.Mount, target string) int {
		return slices.IndexFunc(ms, func(m plan.Mount) bool { return m.Target == target })
	}
	for name, change := range map[string]func([]plan.Mount) []plan.Mount{
		"proc options": func(ms []plan.Mount) []plan.Mount {
			ms[at(ms, "/proc")].Options = []string{"nosuid", "nodev", "noexec", "hidepid=2"}
			return ms
		},
		"a second proc": func(ms []plan.Mount) []plan.Mount { return append(ms, ms[at(ms, "/proc")]) },
		"a bind beneath /proc": func(ms []plan.Mount) []plan.Mount {
			return append(ms, plan.Mount{Type: "bind", Source: "/tmp", Target: "/proc/x", Options: []string{"ro"}})
		},
		"the root mounted again after /proc": func(ms []plan.Mount) []plan.Mount {
			return slices.Insert(ms, at(ms, "/proc")+1, plan.Mount{Type: "bind", Source: "/", Target: "/", Options: []string{"ro", "nosuid", "nodev"}})
		},
		"/dev/null writable by exec": func(ms []plan.Mount) []plan.Mount {
			ms[at(ms, "/dev/null")].Options = []string{"nosuid"}
			return ms
		},
		"/dev/null idmapped": func(ms []plan.Mount) []plan.Mount {
			ms[at(ms, "/dev/null")].Idmap = true
			return ms
		},
		"/dev/null from elsewhere": func(ms []plan.Mount) []plan.Mount {
			ms[at(ms, "/dev/null")].Source = "/dev/zero"
			return ms
		},
		"/dev mounted again after /dev/null": func(ms []plan.Mount) []plan.Mount {
			return append(ms, plan.Mount{Type: "tmpfs", Source: "tmpfs", Target: "/dev", Options: []string{"nosuid"}})
		},
		"no /dev/null": func(ms []plan.Mount) []plan.Mount {
			return slices.Delete(ms, at(ms, "/dev/null"), at(ms, "/dev/null")+1)
		},
	} {
		ms := change(slices.Clone(base))
		if procAhead(ms) {
			t.Errorf("%s: takes the /proc made ahead", name)
		}
	}
}
