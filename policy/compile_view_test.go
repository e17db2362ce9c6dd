package policy

import (
	"slices"
	"testing"
)

// TestAuditView: an audit-mode host-view component sees the host's /etc, /home, /opt,
// /srv and /var read-only, as optional mounts without Landlock rules, except what it
// declares itself; an enforcing one sees none of them.
func TestAuditView(t *testing.T) {
	src := "version: 1\nname: t\nrun: {command: [/bin/true]}\nfilesystem: {read: [/bin, /etc]}\nsyscalls: {extends: default}\n"
	view := func(c string) (optional []string) {
		cp := compileOne(t, c)
		for _, m := range cp.Mounts {
			if m.Optional {
				optional = append(optional, m.Target)
				if !slices.Contains(m.Options, "ro") {
					t.Errorf("%s is not read-only: %v", m.Target, m.Options)
				}
			}
		}
		for _, r := range cp.Landlock.Paths {
			if slices.Contains([]string{"/home", "/opt", "/srv", "/var"}, r.Path) {
				t.Errorf("the view %s has a Landlock rule", r.Path)
			}
		}
		return optional
	}
	if got := view(src + "mode: audit\n"); !slices.Equal(got, []string{"/home", "/opt", "/srv", "/var"}) {
		t.Errorf("audit view %v, want /home /opt /srv /var (/etc is declared)", got)
	}
	if got := view(src); len(got) > 0 {
		t.Errorf("an enforcing component sees %v", got)
	}
}

// TestParentsFirst: a read path is bound before the paths inside it, whatever the order
// profiles and the file give them in.
func TestParentsFirst(t *testing.T) {
	got := parentsFirst([]string{"/etc/ssl/certs", "/usr", "/etc/ssl", "/etc"})
	if want := []string{"/etc", "/etc/ssl", "/etc/ssl/certs", "/usr"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
