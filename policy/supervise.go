package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
)

// RestartPolicies are the values of run.restart, as in Docker and systemd.
var RestartPolicies = []string{"no", "on-failure", "always"}

// Health check defaults, for the fields a policy leaves out.
const (
	defaultHealthInterval = 2 * time.Second
	defaultHealthTimeout  = time.Second
	defaultHealthRetries  = 3
)

// supervise checks run.restart and run.health; depends_on needs the stack (validateDependsOn).
func (v *validator) supervise() {
	r := v.c.Run
	if r.Restart != "" && !slices.Contains(RestartPolicies, r.Restart) {
		v.add("run.restart", "unknown restart policy %q%s; expected one of: %s", r.Restart, suggest(r.Restart, RestartPolicies), strings.Join(RestartPolicies, ", "))
	}
	h := r.Health
	if h.empty() {
		return
	}
	v.healthExec()
	if len(h.Exec) > 0 {
		// an exec check has no port
	} else if h.TCP < 1 || h.TCP > 65535 {
		v.add("run.health.tcp", "expected the TCP port to check, from 1 to 65535, found %d", h.TCP)
	} else if _, l := listenFor(v.c, PortRange{Proto: "tcp", First: uint16(h.TCP), Last: uint16(h.TCP)}); l == nil {
		v.add("run.health.tcp", "port %d/tcp is not under network.listen; the check connects to a port the component serves", h.TCP)
	}
	for _, d := range []struct {
		key, val string
		t        parsed[time.Duration]
	}{{"interval", h.Interval, h.interval}, {"timeout", h.Timeout, h.timeout}} {
		if d.val == "" {
			continue
		}
		if t, err := d.t.v, d.t.err; err != nil || t < 10*time.Millisecond || t > time.Hour {
			v.add("run.health."+d.key, "expected a duration from 10ms to 1h (e.g. 2s, 500ms), found %q", d.val)
		}
	}
	if h.Retries < 0 || h.Retries > 100 {
		v.add("run.health.retries", "expected a count from 1 to 100, found %d", h.Retries)
	}
}

// validateDependsOn checks that every depends_on names another member and that the
// dependencies have no cycle, which would leave nothing to start first.
func validateDependsOn(s *Stack, errs *ErrorList) {
	names := memberNames(s)
	member := memberSet(names)
	for _, c := range s.Members {
		for i, d := range c.Run.DependsOn {
			field := fmt.Sprintf("run.depends_on[%d]", i)
			switch {
			case d == c.Name:
				errs.Add(c.pos.at(field), field, "%s depends on itself", c.Name)
			case !member[d] && !s.IsSingle():
				errs.Add(c.pos.at(field), field, "unknown component %q%s; the stack has: %s", d, memberHint(*errs, d, names), stackHas(names))
			}
		}
	}
	deps := map[string][]string{}
	for _, c := range s.Members {
		deps[c.Name] = c.Run.DependsOn
	}
	if cycle := findCycle(names, deps); cycle != nil {
		c := s.Members[slices.Index(names, cycle[0])]
		errs.Add(c.pos.at("run.depends_on"), "run.depends_on", "depends_on has a cycle: %s", strings.Join(cycle, " → "))
	}
}

// findCycle returns one cycle of the graph (first node repeated at the end), or nil.
func findCycle(nodes []string, edges map[string][]string) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = open
		stack = append(stack, n)
		for _, m := range edges[n] {
			switch state[m] {
			case open:
				i := slices.Index(stack, m)
				return append(slices.Clone(stack[i:]), m)
			case unseen:
				if _, known := edges[m]; known {
					if c := visit(m); c != nil {
						return c
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, n := range nodes {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

// compileSupervise copies the component's lifecycle into the Plan, with defaults filled in.
// No depends_on is nil, as the Plan's JSON (omitempty) decodes it: a kept Plan
// (cmd/confine's plancache) is the very one compile gives.
func compileSupervise(c *Component, cp *plan.Component) {
	cp.Supervise = plan.Supervise{Restart: or(c.Run.Restart, "no")}
	if len(c.Run.DependsOn) > 0 {
		cp.Supervise.DependsOn = sorted(c.Run.DependsOn)
	}
	h := c.Run.Health
	if h.empty() {
		return
	}
	interval, timeout := defaultHealthInterval, defaultHealthTimeout
	if h.Interval != "" {
		interval = h.interval.v
	}
	if h.Timeout != "" {
		timeout = h.timeout.v
	}
	cp.Supervise.Health = &plan.HealthCheck{
		Port: uint16(h.TCP), Exec: h.Exec, IntervalMS: interval.Milliseconds(), TimeoutMS: timeout.Milliseconds(),
		Retries: or(h.Retries, defaultHealthRetries),
	}
}

// compileStartOrder orders the members so that each starts after what it depends on and
// after the components it connects to (a callee before its callers). depends_on has no
// cycles (validated); a cycle of flows, which is legal, is broken by the stack's order.
func compileStartOrder(s *Stack) []string {
	names := memberNames(s)
	member := memberSet(names)
	after := map[string][]string{} // component → what must start before it
	for _, c := range s.Members {
		after[c.Name] = append(after[c.Name], c.Run.DependsOn...)
		for _, conn := range c.Network.Connect {
			if ep := conn.to.v; conn.to.err == nil && ep.Peer.Component != "" && ep.Peer.Component != c.Name {
				after[c.Name] = append(after[c.Name], ep.Peer.Component)
			}
			if u := conn.unix.v; conn.Unix != "" && conn.unix.err == nil && u.Component != c.Name {
				after[c.Name] = append(after[c.Name], u.Component) // a socket's server first
			}
		}
	}
	var order []string
	placed := map[string]bool{}
	visiting := map[string]bool{}
	var place func(n string)
	place = func(n string) {
		if placed[n] || visiting[n] {
			return // visiting: a flow cycle; the stack's order decides
		}
		visiting[n] = true
		for _, m := range after[n] {
			if member[m] {
				place(m)
			}
		}
		visiting[n] = false
		placed[n] = true
		order = append(order, n)
	}
	for _, n := range names {
		place(n)
	}
	return order
}
