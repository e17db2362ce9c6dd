//go:build linux

package net_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// ask connects from namespace ns (the test's own when ""), from local when set, sends
// a line (udp needs one) and returns the first line of the answer.
func ask(ns, proto, local, addr string) (string, error) {
	var answer string
	do := func() error {
		d := net.Dialer{Timeout: time.Second}
		if local != "" {
			if proto == "tcp" {
				d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
			} else {
				d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
			}
		}
		c, err := d.Dial(proto+"4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if proto == "udp" {
			if _, err := c.Write([]byte("ping\n")); err != nil {
				return err
			}
		}
		answer, err = bufio.NewReader(c).ReadString('\n')
		answer = strings.TrimSpace(answer)
		return err
	}
	if ns == "" {
		return answer, do()
	}
	return answer, netfilter.InNamespace(nsPath(ns), do)
}

// TestPublishKernel: TCP and UDP ports published on every host address reach the
// component by DNAT with the client's address kept; a client listen.from does not name
// is dropped; the host's own connections, to its address and to its loopback (the
// rewrite at connect()), arrive as "host", the bridge address. After down the host is as before.
func TestPublishKernel(t *testing.T) {
	w := newWorld(t, "203.0.113.50")
	before := w.snapshot()
	dir := t.TempDir()
	component(t, dir, "web", `network:
  listen:
    - port: 8080/tcp
      from: [host, 198.51.100.2]
    - port: 5353/udp
      from: [host, 198.51.100.0/24]`, "serveaddr:tcp/8080", "serveaddr:udp/5353", "sleep:")
	stack := testenv.StackName("net-publish")
	w.upStack(dir, stack, "10.83.0.0/24", []string{"web"},
		"publish: [\"0.0.0.0:8080 -> web:8080/tcp\", \"0.0.0.0:5353 -> web:5353/udp\"]\n")
	const bridge = "10.83.0.1"
	for _, c := range []struct {
		what, ns, proto, local, addr, want string
	}{
		{"tcp from outside", w.outside, "tcp", "", hostAddr + ":8080", "you are " + outsideAddr + ":"},
		{"udp from outside", w.outside, "udp", "", hostAddr + ":5353", "you are " + outsideAddr + ":"},
		{"tcp from the host to its address", w.host, "tcp", "", hostAddr + ":8080", "you are " + bridge + ":"},
		{"udp from the host to its address", w.host, "udp", "", hostAddr + ":5353", "you are " + bridge + ":"},
		{"tcp from the host's loopback (rewritten at connect())", w.host, "tcp", "", "127.0.0.1:8080", "you are " + bridge + ":"},
		{"tcp from an outside address listen.from does not name", w.outside, "tcp", "203.0.113.50", hostAddr + ":8080", ""},
		{"udp from an outside address listen.from does not name", w.outside, "udp", "203.0.113.50", hostAddr + ":5353", ""},
	} {
		var got string
		var err error
		for i := 0; i < 3; i++ { // udp: a first datagram may race the component's start
			if got, err = ask(c.ns, c.proto, c.local, c.addr); err == nil || c.want == "" {
				break
			}
		}
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s: answered %q; it must be dropped", c.what, got)
		case c.want != "" && (err != nil || !strings.HasPrefix(got, c.want)):
			t.Errorf("%s: %q (%v), want %q…", c.what, got, err, c.want)
		}
	}
	w.confine("down", "--grace", "1s", stack)
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across up and down:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := ask(w.outside, "tcp", "", hostAddr+":8080"); err == nil {
		t.Error("the published port answers after down")
	}
}
