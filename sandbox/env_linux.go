package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/confine-sandbox/confine/policy/plan"
)

// maxEnvFile bounds what an env_file may hold: it becomes one process's environment.
const maxEnvFile = 1 << 20

var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// composeEnv is the environment the component starts with, read now, in the supervisor:
// run.env_from_host from this process's environment, then run.env_file over it, then
// the Plan's run.env over both (a later layer wins per name). A variable named by
// env_from_host but unset here is left out, as docker's -e NAME does.
func composeEnv(p plan.Process) ([]string, error) {
	if len(p.EnvFromHost) == 0 && p.EnvFile == "" {
		return p.Env, nil
	}
	env := map[string]string{}
	for _, k := range p.EnvFromHost {
		if v, ok := os.LookupEnv(k); ok {
			if bad := badText(v); bad != "" {
				return nil, fmt.Errorf("run.env_from_host: the value of %s %s", k, bad)
			}
			env[k] = v
		}
	}
	if p.EnvFile != "" {
		if err := readEnvFile(p.EnvFile, env); err != nil {
			return nil, fmt.Errorf("run.env_file: %w", err)
		}
	}
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// readEnvFile reads KEY=VALUE lines into env. Blank lines and lines starting with # are
// skipped; values are taken as written (no quotes, no expansion), as docker --env-file
// does. An error names the line, never its content: the file may hold secrets.
func readEnvFile(name string, env map[string]string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		return err
	}
	if len(data) > maxEnvFile {
		return fmt.Errorf("%s is larger than %d bytes", name, maxEnvFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxEnvFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimPrefix(k, "export ")
		switch {
		case !ok:
			return fmt.Errorf("%s:%d: expected KEY=VALUE", name, n)
		case !envName().MatchString(k):
			return fmt.Errorf("%s:%d: expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*) before =", name, n)
		}
		if bad := badText(v); bad != "" {
			return fmt.Errorf("%s:%d: the value of %s %s", name, n, k, bad)
		}
		env[k] = v
	}
	return sc.Err()
}

// badText says why s cannot be a value: control characters (tab aside) and invisible
// format characters, refused as in policy strings, so a value cannot forge log lines.
func badText(s string) string {
	for _, r := range s {
		if r == '\t' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return fmt.Sprintf("contains a control or invisible character (%U)", r)
		}
	}
	return ""
}
