package policy

import "time"

// Values that are strings in YAML (ports, peers, endpoints, sizes, users, syscall
// argument values) are parsed once, when a file is loaded, into unexported fields
// beside the string. The string stays what the schema and error messages show;
// validate reports the parse error kept with the value, at the string's position,
// and merge and compile work on the parsed value only. Parsing at load rather than
// in validate covers the built-in profiles too, which are loaded but not validated,
// and merge carries a parsed value along with the struct that holds its string.

// parsed is a value parsed from a policy string, or why it could not be.
type parsed[T any] struct {
	v   T
	err error
}

func parse[T any](v T, err error) parsed[T] { return parsed[T]{v, err} }

func parseUser(s string) parsed[User] {
	return parse(ParseUser(s))
}

// parseDuration parses a Go duration; "" stays unset.
func parseDuration(s string) parsed[time.Duration] {
	if s == "" {
		return parsed[time.Duration]{}
	}
	return parse(time.ParseDuration(s))
}

// parseValues fills c's parsed fields from their strings.
func (c *Component) parseValues() {
	if c.Run.User != "" {
		c.Run.user = parseUser(c.Run.User)
	}
	if h := &c.Run.Health; h.Interval != "" || h.Timeout != "" {
		h.interval, h.timeout = parseDuration(h.Interval), parseDuration(h.Timeout)
	}
	if c.Resources.Memory != "" {
		c.Resources.memory = parse(ParseSize(c.Resources.Memory))
	}
	for i := range c.Network.Listen {
		l := &c.Network.Listen[i]
		l.ports = parse(ParsePorts(l.Port))
		l.from = make([]parsed[Peer], len(l.From))
		for j, f := range l.From {
			l.from[j] = parse(ParsePeer(f))
		}
	}
	for i := range c.Network.Connect {
		conn := &c.Network.Connect[i]
		if conn.Unix != "" {
			conn.to, conn.unix = parsed[Endpoint]{err: errUnixEntry}, parse(ParseUnixTarget(conn.Unix))
			continue
		}
		conn.to = parse(ParseEndpoint(conn.To))
	}
	for _, rules := range [][]SyscallRule{c.Syscalls.Allow, c.Syscalls.Deny} {
		for i := range rules {
			for k := range rules[i].Args {
				a := &rules[i].Args[k]
				a.value = parse(argValue(a.Value))
				if a.Mask != "" {
					a.mask = parse(argValue(a.Mask))
				}
			}
			rules[i].key = ruleKey(rules[i])
		}
	}
}

// parseValues fills s's parsed fields from their strings.
func (s *Stack) parseValues() {
	s.publish = make([]parsed[Publish], len(s.Publish))
	for i, p := range s.Publish {
		s.publish[i] = parse(ParsePublish(p))
	}
}
