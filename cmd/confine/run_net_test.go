//go:build !confine_slim

package main

import (
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

func TestParsePublishFlag(t *testing.T) {
	for spec, want := range map[string]plan.Publish{
		"8080:80":                {HostAddress: "0.0.0.0", HostPort: 8080, Port: 80, Proto: "tcp", Kernel: true},
		"5353:53/udp":            {HostAddress: "0.0.0.0", HostPort: 5353, Port: 53, Proto: "udp", Kernel: true},
		"127.0.0.1:8080:80/tcp":  {HostAddress: "127.0.0.1", HostPort: 8080, Port: 80, Proto: "tcp"},
		"192.0.2.7:443:8443/tcp": {HostAddress: "192.0.2.7", HostPort: 443, Port: 8443, Proto: "tcp", Kernel: true},
	} {
		got, err := parsePublishFlag(spec)
		if err != nil || got != want {
			t.Errorf("-p %s: %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for spec, why := range map[string]string{
		"80":                  "wrong number of fields",
		"1:2:3:4":             "wrong number of fields",
		"80:80/sctp":          "neither tcp nor udp",
		"0:80":                "not a port",
		"80:70000":            "not a port",
		"::1:80:80":           "wrong number of fields",
		"host:80:80":          "not an IPv4 address",
		"127.0.0.1:53:53/udp": "tcp only",
	} {
		if _, err := parsePublishFlag(spec); err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "expected [ADDR:]HOSTPORT:PORT") {
			t.Errorf("-p %s: %v, want an error saying %q", spec, err, why)
		}
	}
}

func TestPublishAllowed(t *testing.T) {
	c := &plan.Component{Name: "web", Net: plan.ComponentNet{
		Gateway: []plan.Flow{{Set: "ingress", Proto: "tcp", First: 80, Last: 80}},
		Firewall: plan.Firewall{Flows: []plan.Flow{
			{Set: "ingress", Src: "198.51.100.0/24", Dst: "0.0.0.0/0", Proto: "udp", First: 53, Last: 53},
			{Set: "ingress", Src: "127.0.0.1/32", Dst: "0.0.0.0/0", Proto: "tcp", First: 9000, Last: 9000},
		}},
	}}
	for spec, ok := range map[string]bool{
		"8080:80": true, "127.0.0.1:8080:80": true, "53:53/udp": true,
		"127.0.0.1:9000:9000": false, "9000:9000": false, "53:53": false, "81:81": false,
	} {
		pub, err := parsePublishFlag(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := publishAllowed(c, pub, spec); (err == nil) != ok {
			t.Errorf("-p %s: %v, want allowed %v", spec, err, ok)
		}
	}
}

func TestCovers(t *testing.T) {
	gw := plan.Flow{Set: "egress", Src: "0.0.0.0/0", Dst: "100.127.0.1/32", Proto: "udp", First: 53, Last: 53}
	for _, c := range []struct {
		g    plan.Flow
		want bool
	}{
		{plan.Flow{Set: "egress", Src: "0.0.0.0/0", Dst: "0.0.0.0/0", Proto: "udp", First: 53, Last: 53}, true},
		{plan.Flow{Set: "egress", Src: "0.0.0.0/0", Dst: "100.64.0.0/10", Proto: "udp", First: 1, Last: 1024}, true},
		{plan.Flow{Set: "egress", Src: "0.0.0.0/0", Dst: "0.0.0.0/0", Proto: "tcp", First: 53, Last: 53}, false},
		{plan.Flow{Set: "egress", Src: "0.0.0.0/0", Dst: "10.0.0.0/8", Proto: "udp", First: 53, Last: 53}, false},
		{plan.Flow{Set: "ingress", Src: "0.0.0.0/0", Dst: "0.0.0.0/0", Proto: "udp", First: 53, Last: 53}, false},
		{plan.Flow{Set: "egress", Src: "0.0.0.0/0", Dst: "0.0.0.0/0", Proto: "udp", First: 54, Last: 60}, false},
	} {
		if got := covers(c.g, gw); got != c.want {
			t.Errorf("covers(%+v, gateway:53/udp) = %v, want %v", c.g, got, c.want)
		}
	}
}
