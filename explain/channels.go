package explain

import (
	"fmt"

	"github.com/confine-sandbox/confine/policy/plan"
)

// stackChannels lists the stack's filesystem channels once each: from the client's side
// for a socket, from each writer's side for a shared path.
func (e *writer) stackChannels(p *plan.Plan) int {
	n := 0
	for _, c := range p.Components {
		for _, ch := range c.Channels {
			switch ch.Role {
			case "connect":
				if n == 0 {
					e.line(1, "Channels through the filesystem, declared on both sides:")
				}
				e.line(2, "%s → %s through the unix socket %s", c.Name, ch.Peer, ch.Path)
				n++
			case "write":
				if n == 0 {
					e.line(1, "Channels through the filesystem, declared on both sides:")
				}
				e.line(2, "%s → %s through the shared path %s (host %s)", c.Name, ch.Peer, ch.Path, ch.HostPath)
				n++
			}
		}
	}
	return n
}

// channels says what each of the component's channels lets it do.
func (e *writer) channels(c *plan.Component) {
	if len(c.Channels) == 0 {
		return
	}
	e.line(1, "Channels to other components, each declared on both sides:")
	for _, ch := range c.Channels {
		var s string
		switch ch.Role {
		case "connect":
			s = fmt.Sprintf("may connect to %s's unix socket %s (its directory, host %s, bound read-only; Landlock denies reading it)", ch.Peer, ch.Path, dirOf(ch.HostPath))
		case "serve":
			s = fmt.Sprintf("serves the unix socket %s to %s, who sees its directory; the socket's owner, group and mode (ids on disk are the ids inside) must let %s write it", ch.Path, ch.Peer, ch.Peer)
		case "write":
			s = fmt.Sprintf("shares %s (host %s) with %s, and may write there", ch.Path, ch.HostPath, ch.Peer)
		default:
			s = fmt.Sprintf("shares %s (host %s) with %s, and reads what it writes", ch.Path, ch.HostPath, ch.Peer)
		}
		e.line(2, "%s [%s]", s, ch.Why)
	}
}

func dirOf(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}
