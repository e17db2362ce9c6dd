//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// unixProbe runs the unix socket probes; ok is false for any other op.
//
//	unixserve:PATH@MODE  serves a pathname socket, chmod MODE (octal), in the background
//	unixdial:PATH        connects and reads the server's answer, waiting up to 5 s for it
//	abstractserve:NAME   serves the abstract socket @NAME in the background
//	abstractdial:NAME    connects to @NAME, waiting up to 10 s while nothing listens there
func unixProbe(op, val string) (out string, err error, ok bool) {
	switch op {
	case "unixserve":
		p, mode, _ := strings.Cut(val, "@")
		var m uint32 = 0o666
		if mode != "" {
			fmt.Sscanf(mode, "%o", &m)
		}
		return "", serveUnix(p, func() error { return os.Chmod(p, os.FileMode(m)) }), true
	case "unixdial":
		// A server that is still starting has no socket yet, or no listener behind it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, err := dialUnix(val)
			if !(errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)) || time.Now().After(deadline) {
				return out, err, true
			}
			time.Sleep(100 * time.Millisecond)
		}
	case "abstractserve":
		return "", serveUnix("@"+val, nil), true
	case "abstractdial":
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := dialUnix("@" + val)
			if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
				return out, err, true
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return "", nil, false
}

// serveUnix listens on addr, runs then (the mode change), and answers each client.
func serveUnix(addr string, then func() error) error {
	l, err := net.Listen("unix", addr)
	if err != nil {
		return err
	}
	if then != nil {
		if err := then(); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from " + host + "\n"))
			c.Close()
		}
	}()
	return nil
}

func dialUnix(addr string) (string, error) {
	c, err := net.DialTimeout("unix", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}
