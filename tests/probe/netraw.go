//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netRaw runs the probes that flood the firewall or need NET_RAW.
func netRaw(op, val string) (string, bool, error) {
	switch op {
	case "sendmany":
		// sendmany:N/ADDR:PORT sends a UDP datagram to PORT on N addresses from ADDR
		// up, one after another, and reports "DROPPED SENT": how many the firewall
		// dropped (an output drop fails the send with EPERM at once) and how many
		// left; it stops at any other error.
		out, err := sendMany(val, true)
		return out, true, err
	case "sendto":
		// sendto:N/ADDR:PORT is sendmany to ADDR only, N times: one flow key.
		out, err := sendMany(val, false)
		return out, true, err
	case "rawip", "rawframe":
		// rawip:SRC/HOST:PORT sends a TCP SYN from SRC by a raw IP socket (its own
		// firewall's output chain sees it); rawframe:SRC/HOST:PORT sends it as an
		// Ethernet frame by a packet socket on eth0 to the gateway's MAC, past every
		// netfilter hook of the namespace. SRC "self" is eth0's own address.
		src, addr, _ := strings.Cut(val, "/")
		return "", true, sendSYN(op == "rawframe", src, addr)
	}
	return "", false, nil
}

func sendMany(val string, next bool) (string, error) {
	count, addr, _ := strings.Cut(val, "/")
	n, err := strconv.Atoi(count)
	if err != nil {
		return "", err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", err
	}
	dropped, sent, to := 0, 0, ap.Addr()
	for i := 0; i < n; i++ {
		if next && i > 0 {
			to = to.Next()
		}
		c, err := net.Dial("udp4", netip.AddrPortFrom(to, ap.Port()).String())
		if err != nil {
			return fmt.Sprint(dropped, sent), err
		}
		_, err = c.Write([]byte("flood"))
		c.Close()
		switch {
		case err == nil:
			sent++
		case errors.Is(err, unix.EPERM):
			dropped++
		default:
			return fmt.Sprint(dropped, sent), err
		}
	}
	return fmt.Sprint(dropped, sent), nil
}

func sendSYN(frame bool, src, addr string) error {
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	from, err := sourceAddr(link, src)
	if err != nil {
		return err
	}
	pkt := synPacket(from, ap)
	if !frame {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW) // IP_HDRINCL implied
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: ap.Addr().As4()})
	}
	gw, err := gatewayMAC(link)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: link.Attrs().Index, Halen: 6}
	copy(to.Addr[:], gw)
	return unix.Sendto(fd, pkt, 0, to)
}

func sourceAddr(link netlink.Link, src string) (netip.Addr, error) {
	if src != "self" {
		return netip.ParseAddr(src)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("eth0's address: %v", err)
	}
	a, _ := netip.AddrFromSlice(addrs[0].IP.To4())
	return a, nil
}

// gatewayMAC is the link-layer address of the default route's gateway, from the
// neighbour table (the uplink pins it).
func gatewayMAC(link netlink.Link) (net.HardwareAddr, error) {
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var gw net.IP
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			gw = r.Gw
		}
	}
	neighs, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, n := range neighs {
		if gw != nil && n.IP.Equal(gw) && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr, nil
		}
	}
	return nil, errors.New("no neighbour entry for the gateway")
}

// synPacket is an IPv4 packet holding a TCP SYN from src:40000 to dst.
func synPacket(src netip.Addr, dst netip.AddrPort) []byte {
	p := make([]byte, 40)
	p[0], p[8], p[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := src.As4(), dst.Addr().As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20]))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], 1)
	tcp[12], tcp[13] = 5<<4, 0x02 // header length 20, SYN
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, unix.IPPROTO_TCP, 0, 20)
	binary.BigEndian.PutUint16(tcp[16:], checksum(append(pseudo, tcp...)))
	return p
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
