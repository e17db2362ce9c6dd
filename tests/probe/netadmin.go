//go:build linux

package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// netAdmin runs the probes that need NET_ADMIN in the sandbox's network namespace.
func netAdmin(op, val string) (string, bool, error) {
	switch op {
	case "nftflush":
		// nftflush: flushes the namespace's whole nftables ruleset (nft flush ruleset).
		conn, err := nftables.New()
		if err != nil {
			return "", true, err
		}
		conn.FlushRuleset()
		return "", true, conn.Flush()
	case "nfttables":
		// nfttables: lists the namespace's nftables tables, "family name" each, by ",".
		conn, err := nftables.New()
		if err != nil {
			return "", true, err
		}
		tables, err := conn.ListTables()
		var names []string
		for _, t := range tables {
			names = append(names, fmt.Sprintf("%d %s", t.Family, t.Name))
		}
		return strings.Join(names, ","), true, err
	case "spoofdial":
		// spoofdial:SRC/HOST:PORT adds SRC to eth0, makes it the default route's source
		// and dials HOST:PORT over tcp.
		src, addr, _ := strings.Cut(val, "/")
		out, err := spoofDial(src, addr)
		return out, true, err
	}
	return "", false, nil
}

func spoofDial(src, addr string) (string, error) {
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		return "", err
	}
	a, err := netlink.ParseAddr(src + "/32")
	if err != nil {
		return "", err
	}
	if err := netlink.AddrAdd(link, a); err != nil {
		return "", fmt.Errorf("adding %s: %w", src, err)
	}
	// The source comes from the default route, not bind(2): the sandbox may bind
	// only the ports it listens on.
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			r.Src = a.IP
			if err := netlink.RouteReplace(&r); err != nil {
				return "", fmt.Errorf("default route from %s: %w", src, err)
			}
		}
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}
