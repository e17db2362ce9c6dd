package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

func TestMapToNS(t *testing.T) {
	maps := "         0     100000      65536\n"
	for _, c := range []struct {
		host, ns uint32
		ok       bool
	}{{100000, 0, true}, {102000, 2000, true}, {165535, 65535, true}, {165536, 0, false}, {0, 0, false}} {
		ns, ok := mapToNS(maps, c.host)
		if ns != c.ns || ok != c.ok {
			t.Errorf("host %d: %d, %v; want %d, %v", c.host, ns, ok, c.ns, c.ok)
		}
	}
}

// TestCheckRulePaths: a rule path swapped for a symlink beneath a path where the
// component may make symlinks stops the exec; a symlink it could not have made does not.
func TestCheckRulePaths(t *testing.T) {
	dir := t.TempDir()
	data, other := filepath.Join(dir, "data"), filepath.Join(dir, "other")
	os.Mkdir(data, 0o755)
	os.Mkdir(other, 0o755)
	os.Symlink(other, filepath.Join(data, "sub"))
	cfg := func(access ...string) *initConfig {
		return &initConfig{Component: plan.Component{Landlock: plan.Landlock{Paths: []plan.PathRule{
			{Path: data, Access: access}, {Path: filepath.Join(data, "sub"), Access: []string{"write_file"}},
		}}}}
	}
	if err := checkRulePaths(cfg("read_file", "make_sym")); err == nil || !strings.Contains(err.Error(), "now resolves to") {
		t.Errorf("a symlink the component could have made: %v", err)
	}
	if err := checkRulePaths(cfg("read_file", "write_file")); err != nil {
		t.Errorf("a symlink the component could not have made: %v", err)
	}
}
