package policy

import (
	"fmt"
	"slices"
)

// envSources checks run.env_from_host and run.env_file as written. Their values are
// read when the component starts (sandbox/env_linux.go), never here.
func (v *validator) envSources() {
	r := v.c.Run
	for i, k := range r.EnvFromHost {
		field := fmt.Sprintf("run.env_from_host[%d]", i)
		switch {
		case !envKey().MatchString(k):
			v.add(field, "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), found %q", k)
		case slices.Index(r.EnvFromHost, k) < i:
			v.add(field, "%s is already listed at run.env_from_host[%d]", k, slices.Index(r.EnvFromHost, k))
		}
	}
	if r.EnvFile != "" && (hasControl(r.EnvFile) || hasInvisible(r.EnvFile)) {
		v.add("run.env_file", "path %q contains a control or invisible character", r.EnvFile)
	}
}

// empty reports whether no health check is declared.
func (h Health) empty() bool {
	return h.TCP == 0 && len(h.Exec) == 0 && h.Interval == "" && h.Timeout == "" && h.Retries == 0
}

// healthExec checks run.health.exec: a command like run.command, and not beside tcp.
func (v *validator) healthExec() {
	h := v.c.Run.Health
	if len(h.Exec) == 0 {
		return
	}
	if h.TCP != 0 {
		v.add("run.health.exec", "a health check is tcp or exec, not both")
	}
	if msg := checkPath(h.Exec[0]); msg != "" {
		v.add("run.health.exec[0]", "%s", msg)
	}
	for i, a := range h.Exec {
		if hasControl(a) {
			v.add(fmt.Sprintf("run.health.exec[%d]", i), "contains a control character; expected printable text")
		}
	}
}
