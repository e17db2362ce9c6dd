// Command connrate measures the TCP connection rate to a server, for bench/flows.sh.
//
//	connrate -serve ADDR                  accept connections, write one line, close
//	connrate -dial ADDR [-d 3s] [-c 4]    open, read to EOF and close connections for -d
//	                                      with -c workers; print "RATE FAILURES"
//	connrate -sink ADDR                   accept connections and read them to EOF (with
//	                                      -serve, both at once)
//	connrate -send ADDR [-d 3s]           write to one connection for -d; print "GBIT/S"
//	                                      (after -dial's line, when both are given)
//	-after D                              wait D first
//	-dns ADDR                             answer A queries by the name (names.go)
//	-names FILE                           before -dial, resolve FILE's names and the
//	                                      dial host through the system's resolver
//	                                      (names.go), then dial the address
//	-cpu                                  after -dial's and -send's lines, a line "cpu
//	                                      dial US" or "cpu send US": the process's CPU
//	                                      time (user+system) in that phase, in µs
//
// The server closes first, so TIME_WAIT stays on the server's side and the client does
// not run out of ports. Multipath TCP is off on both sides: a benchmark of the firewall
// must send plain TCP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	serve := flag.String("serve", "", "listen on this address and answer every connection")
	dial := flag.String("dial", "", "connect to this address repeatedly")
	dur := flag.Duration("d", 3*time.Second, "how long to connect for")
	workers := flag.Int("c", 4, "concurrent connections")
	timeout := flag.Duration("timeout", time.Second, "per-connection timeout")
	sink := flag.String("sink", "", "listen on this address and read every connection to EOF")
	send := flag.String("send", "", "write to this address for -d and report the throughput")
	after := flag.Duration("after", 0, "wait this long before dialing (for the caller to tune the namespaces)")
	cpu := flag.Bool("cpu", false, "print each phase's CPU time")
	dnsAddr := flag.String("dns", "", "answer DNS A queries on this address (UDP)")
	names := flag.String("names", "", "resolve the names in this file first")
	flag.Parse()
	phase := func(name string, f func()) {
		t0 := cpuTime()
		f()
		if *cpu {
			fmt.Printf("cpu %s %d\n", name, (cpuTime()-t0)/time.Microsecond)
		}
	}
	time.Sleep(*after)
	if *dnsAddr != "" {
		if err := runDNS(*dnsAddr); err != nil {
			fmt.Fprintln(os.Stderr, "connrate:", err)
			os.Exit(1)
		}
	}
	if *names != "" {
		addr, err := resolveNames(*names, *dial, 8, 21)
		if err != nil {
			fmt.Fprintln(os.Stderr, "connrate:", err)
			os.Exit(1)
		}
		*dial = addr
	}
	if *sink != "" {
		go func() {
			if err := runSink(*sink); err != nil {
				fmt.Fprintln(os.Stderr, "connrate:", err)
				os.Exit(1)
			}
		}()
		if *serve == "" {
			select {}
		}
	}
	switch {
	case *serve != "":
		if err := runServer(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "connrate:", err)
			os.Exit(1)
		}
	case *dial != "":
		var ok, failed int64
		var first error
		phase("dial", func() { ok, failed, first = runClient(*dial, *dur, *workers, *timeout) })
		fmt.Printf("%.1f %d\n", float64(ok)/dur.Seconds(), failed)
		if failed > 0 {
			fmt.Fprintf(os.Stderr, "connrate: %d connections failed, the first with: %v\n", failed, first)
		}
		if ok == 0 {
			os.Exit(1)
		}
		if *send != "" {
			phase("send", func() { sendFor(*send, *dur) })
		}
	case *send != "":
		phase("send", func() { sendFor(*send, *dur) })
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func runServer(addr string) error {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		return err
	}
	answer := []byte("hello from connrate\n")
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go func() {
			c.Write(answer)
			c.Close()
		}()
	}
}

func runClient(addr string, dur time.Duration, workers int, timeout time.Duration) (ok, failed int64, first error) {
	d := net.Dialer{Timeout: timeout}
	d.SetMultipathTCP(false)
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(dur)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := one(&d, addr, timeout); err != nil {
					atomic.AddInt64(&failed, 1)
					once.Do(func() { first = err })
					continue
				}
				atomic.AddInt64(&ok, 1)
			}
		}()
	}
	wg.Wait()
	return ok, failed, first
}

// one opens a connection, reads the server's answer to EOF and closes it.
func one(d *net.Dialer, addr string, timeout time.Duration) error {
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	n, err := io.Copy(io.Discard, c)
	if err == nil && n == 0 {
		err = errors.New("empty answer")
	}
	return err
}

func runSink(addr string) error {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), "tcp4", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() { io.Copy(io.Discard, c); c.Close() }()
	}
}

// sendFor writes to one connection for dur and prints the throughput in Gbit/s.
func sendFor(addr string, dur time.Duration) {
	d := net.Dialer{Timeout: time.Second}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connrate:", err)
		os.Exit(1)
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	var n int64
	start := time.Now()
	c.SetWriteDeadline(start.Add(dur))
	for {
		k, err := c.Write(buf)
		n += int64(k)
		if err != nil {
			break
		}
	}
	fmt.Printf("%.3f\n", float64(n)*8/time.Since(start).Seconds()/1e9)
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
