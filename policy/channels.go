package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// A host path one component may write and another may read or write is a channel
// between them, as much as a port is: a unix socket, a FIFO, a spool directory. Like a
// flow, a channel needs both sides' declaration. A unix socket is served with
// network.unix (the server) and connect: unix (the client); any other shared path is
// declared with filesystem.share on both sides.

// UnixSocket is a network.unix entry: a socket the component creates at Path (beneath
// one of its filesystem.write paths) and the components that may connect to it.
type UnixSocket struct {
	Path string   `yaml:"path"`
	From []string `yaml:"from"`
}

// Share is a filesystem.share entry: a host path (as the component sees it) that the
// component shares with the components in With, which must declare it back.
type Share struct {
	Path string   `yaml:"path"`
	With []string `yaml:"with"`
}

// UnixTarget is a parsed connect unix: "component:/path/to.sock".
type UnixTarget struct {
	Component, Path string
}

func (u UnixTarget) String() string { return u.Component + ":" + u.Path }

// errUnixEntry stands in a unix connect entry's `to`, so that every reader of `to`
// skips it as it skips an unparsable one.
var errUnixEntry = errors.New("a unix socket entry")

// ParseUnixTarget parses "component:/path/to.sock".
func ParseUnixTarget(s string) (UnixTarget, error) {
	name, p, ok := strings.Cut(s, ":")
	switch {
	case !ok || !validName(name):
		return UnixTarget{}, fmt.Errorf("expected COMPONENT:/path/to.sock such as redis:/run/redis/redis.sock, found %q", s)
	case checkPath(p) != "":
		return UnixTarget{}, fmt.Errorf("%s", checkPath(p))
	case p == "/":
		return UnixTarget{}, fmt.Errorf("expected a socket path beneath a directory, found \"/\"")
	}
	return UnixTarget{Component: name, Path: p}, nil
}

// channels checks the file's own channel declarations; validateChannels checks them
// against the stack.
func (v *validator) channels() {
	c := v.c
	seen := map[string]int{}
	for i, u := range c.Network.Unix {
		field := fmt.Sprintf("network.unix[%d]", i)
		switch msg := checkPath(u.Path); {
		case msg != "":
			v.add(field+".path", "%s", msg)
		case u.Path == "/" || path.Dir(u.Path) == "/":
			v.add(field+".path", "expected a socket in a directory of its own such as /run/redis/redis.sock, found %q", u.Path)
		default:
			if j, dup := seen[u.Path]; dup {
				v.add(field+".path", "%s is already served at network.unix[%d]", u.Path, j)
			}
			seen[u.Path] = i
		}
		v.names(field+".from", u.From, "the components that may connect")
	}
	targets := map[string]int{}
	for i, conn := range c.Network.Connect {
		field := fmt.Sprintf("network.connect[%d]", i)
		if conn.Unix == "" {
			continue
		}
		if conn.To != "" {
			v.add(field, "expected either to or unix, found both")
		}
		if err := conn.unix.err; err != nil {
			v.add(field+".unix", "%v", err)
			continue
		}
		if j, dup := targets[conn.Unix]; dup {
			v.add(field+".unix", "%s is already listed at network.connect[%d]", conn.Unix, j)
		}
		targets[conn.Unix] = i
	}
	shared := map[string]int{}
	for i, s := range c.Filesystem.Share {
		field := fmt.Sprintf("filesystem.share[%d]", i)
		if msg := checkPath(s.Path); msg != "" {
			v.add(field+".path", "%s", msg)
		} else if j, dup := shared[s.Path]; dup {
			v.add(field+".path", "%s is already shared at filesystem.share[%d]; list its components there", s.Path, j)
		} else {
			shared[s.Path] = i
		}
		v.names(field+".with", s.With, "the components it is shared with")
	}
}

// names checks a list of component names: not empty, each valid and listed once.
func (v *validator) names(field string, names []string, what string) {
	if len(names) == 0 {
		v.add(field, "expected %s", what)
	}
	seen := map[string]bool{}
	for j, n := range names {
		f := fmt.Sprintf("%s[%d]", field, j)
		switch {
		case !validName(n):
			v.add(f, "expected a component name, found %q", n)
		case seen[n]:
			v.add(f, "%s is listed twice", n)
		}
		seen[n] = true
	}
}

// hostPath is where p, a path as component c sees it, lies on the host: in its volume
// when a volume is mounted there (volumeKey), beneath its rootfs when it has one (write paths; read paths are the rootfs's own). A relative
// rootfs is placed under "/", as the files it is relative to are: two components' paths
// still compare, at worst as a channel that is not one (which check then refuses).
func hostPath(c *Component, p string) string {
	for target, vol := range c.Filesystem.Volumes {
		if within(p, target) {
			return path.Join(volumeKey+vol, strings.TrimPrefix(p, target))
		}
	}
	if c.Run.Rootfs == "" {
		return p
	}
	root := c.Run.Rootfs
	if !path.IsAbs(root) {
		root = path.Join("/", path.Dir(c.File), root)
	}
	return path.Join(root, p)
}
