package diff

import (
	"fmt"

	"github.com/confine-sandbox/confine/policy/plan"
)

// channelWhat names a channel as a reviewer reads it: "unix redis:/run/redis/redis.sock"
// for a client, "unix /run/redis/redis.sock from api" for its server, "share
// /srv/spool with worker" for a shared path.
func channelWhat(ch plan.Channel) string {
	switch {
	case ch.Kind == "unix" && ch.Role == "connect":
		return fmt.Sprintf("unix %s:%s", ch.Peer, ch.Path)
	case ch.Kind == "unix":
		return fmt.Sprintf("unix %s from %s", ch.Path, ch.Peer)
	}
	return fmt.Sprintf("share %s with %s", ch.Path, ch.Peer)
}

// channelDetail says what the channel lets the component do.
func channelDetail(ch plan.Channel) string {
	switch ch.Role {
	case "connect":
		return "connects to another component's socket"
	case "serve":
		return "another component may connect"
	case "write":
		return "writes where another component reads"
	}
	return "reads what another component writes"
}

// diffChannels compares the unix sockets and shared paths between components: a new
// channel, or a share that may now be written, is a grant.
func diffChannels(o, n *diffSide, cs *diffChangeSet) {
	key := func(ch plan.Channel) string { return ch.Role + " " + channelWhat(ch) }
	keys := func(s *diffSide) map[string]bool {
		m := map[string]bool{}
		if s != nil {
			for _, ch := range s.c.Channels {
				m[key(ch)] = true
			}
		}
		return m
	}
	before, after := keys(o), keys(n)
	for _, ch := range n.c.Channels {
		if !before[key(ch)] {
			cs.grant(ChangeChannel, channelWhat(ch), channelDetail(ch), ch.Why)
		}
	}
	if o == nil {
		return
	}
	for _, ch := range o.c.Channels {
		if !after[key(ch)] {
			cs.take(ChangeChannel, channelWhat(ch), channelDetail(ch), ch.Why)
		}
	}
}
