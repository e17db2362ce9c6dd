package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// run.env wins over env_file, env_file over env_from_host; unset host variables are left
// out; bad lines name the line and never the value.
func TestComposeEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.env")
	os.WriteFile(file, []byte("# c\n\nexport A=file\nB=file\r\nC=x=y\n"), 0o600)
	t.Setenv("A", "host")
	t.Setenv("D", "host")
	got, err := composeEnv(plan.Process{Env: []string{"B=plan"}, EnvFromHost: []string{"A", "D", "NOPE_NOT_SET"}, EnvFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=file", "B=plan", "C=x=y", "D=host"}; !slices.Equal(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
	for content, want := range map[string]string{
		"A=1\nnovalue\n":     "app.env:2: expected KEY=VALUE",
		"1A=x\n":             "app.env:1: expected an environment variable name",
		"S=se\x00cret\n":     "app.env:1: the value of S contains a control",
		"S=a\u200bb\n":       "the value of S contains a control or invisible character (U+200B)",
		"S=" + "\x7f" + "\n": "contains a control",
	} {
		os.WriteFile(file, []byte(content), 0o600)
		_, err := composeEnv(plan.Process{EnvFile: file})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "cret") {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
	if _, err := composeEnv(plan.Process{EnvFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing env_file did not stop the start")
	}
}

func TestInterpreterOf(t *testing.T) {
	ls, err := filepath.EvalSymlinks("/bin/ls")
	if err != nil {
		testenv.Missing(t, "no /bin/ls")
	}
	if got := interpreterOf(ls); !strings.HasPrefix(got, "/lib") || !strings.Contains(got, "ld-linux") {
		t.Errorf("interpreter of %s: %q", ls, got)
	}
	script := filepath.Join(t.TempDir(), "s")
	os.WriteFile(script, []byte("#!/nonexistent/sh -e\necho\n"), 0o755)
	if got := interpreterOf(script); got != "/nonexistent/sh" {
		t.Errorf("interpreter of a script: %q", got)
	}
}
