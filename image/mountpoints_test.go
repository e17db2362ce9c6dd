package image

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMountPoints: the names no layer has (not as a directory, a file, a link nor a
// whiteout) come from one directory of empty directories, made once and found again;
// names every layer set lacks nothing for give none; names that are not one path
// component are ignored.
func TestMountPoints(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	top, bottom := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(bottom, "etc"), 0o755)
	os.Symlink("/etc", filepath.Join(bottom, "dev"))    // a link: the init stage refuses it, as before
	os.WriteFile(filepath.Join(top, "run"), nil, 0o644) // a file, or a whiteout: an entry all the same
	lowers := []string{top, bottom}
	if d, err := s.mountPoints(lowers, []string{"etc", "dev", "run", "a/b", "..", ""}, false); err != nil || d != "" {
		t.Errorf("names the image has: %q, %v; want none", d, err)
	}
	d, err := s.mountPoints(lowers, []string{"proc", "tmp", "dev", "proc"}, false)
	if err != nil || d == "" {
		t.Fatalf("mount points: %q, %v", d, err)
	}
	es, _ := os.ReadDir(d)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
		if fi, _ := e.Info(); !e.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, want a directory 0755", e.Name(), fi.Mode())
		}
	}
	if !slices.Equal(names, []string{"proc", "tmp"}) {
		t.Errorf("made %q, want proc and tmp", names)
	}
	if again, err := s.mountPoints(lowers, []string{"tmp", "proc"}, false); err != nil || again != d {
		t.Errorf("the same names again: %q, %v; want %q", again, err, d)
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, "tmp", "*")); len(left) != 0 {
		t.Errorf("left in tmp/: %v", left)
	}
}
