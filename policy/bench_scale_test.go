package policy

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"
)

// The scaling benchmarks grow one list of a policy and report the cost per entry: a flat
// ns/entry from n=1,000 to n=100,000 shows the step is linear (docs/BENCHMARKS.md).
// Sizes beyond the file-size limit are decoded by loadBench, so that the curve past it
// stays visible. n=100,000 takes
// minutes in all, so it runs only with BENCH_LARGE=1 (bench/policy.sh sets it).
var scaleSizes = []int{1000, 10000}

func init() {
	if os.Getenv("BENCH_LARGE") != "" {
		scaleSizes = append(scaleSizes, 100000)
	}
}

// loadBench decodes one component from data as Load does, without reading a file (so
// without the file-size limit). A decoding error at n=100,000 is a list limit: that
// size is then skipped, saying so.
func loadBench(b *testing.B, name string, data []byte) *Stack {
	b.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		b.Fatal(err)
	}
	c := &Component{File: name}
	var err error
	if c.pos, err = decodeInto(&root, name, c); err != nil {
		if strings.HasSuffix(b.Name(), "n=100000") {
			b.Skipf("beyond the load limits: %.200v", err)
		}
		b.Fatal(err)
	}
	c.parseValues()
	c.recordOrigins(name)
	return &Stack{Version: c.Version, Name: c.Name, File: name, Members: []*Component{c}, pos: c.pos}
}

// benchScale compiles the component gen(n) returns, for each size.
func benchScale(b *testing.B, gen func(n int) string) { benchSizes(b, scaleSizes, gen) }

func benchSizes(b *testing.B, sizes []int, gen func(n int) string) {
	for _, n := range sizes {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			data := []byte(gen(n))
			runScale(b, n, func() *Stack { return loadBench(b, "c.yaml", data) })
		})
	}
}

// runScale times load and Compile (validate included) of what load returns, with n
// entries: ns/entry for both, and compile-ms and compile-ns/entry for Compile alone.
func runScale(b *testing.B, n int, load func() *Stack) {
	var compile time.Duration
	for b.Loop() {
		s := load()
		start := time.Now()
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
		compile += time.Since(start)
	}
	per := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per/float64(n), "ns/entry")
	b.ReportMetric(float64(compile.Nanoseconds())/per/float64(n), "compile-ns/entry")
	b.ReportMetric(float64(compile.Nanoseconds())/per/1e6, "compile-ms")
}

// base36 names entry i compactly, so that 100,000 entries fit in a few hundred KB.
func base36(i int) string { return strconv.FormatInt(int64(i), 36) }

const benchHead = "version: 1\nname: big\nrun: {command: [/app/big]}\n"

// BenchmarkScaleExtends repeats one profile n times under extends.
func BenchmarkScaleExtends(b *testing.B) {
	benchScale(b, func(n int) string {
		return benchHead + "filesystem: {read: [/app]}\nextends: [" + strings.Repeat("service, ", n-1) + "service]\n"
	})
}

// BenchmarkScaleReadPaths lists n read paths, besides a write path and a tmpfs that
// every one of them is checked against.
func BenchmarkScaleReadPaths(b *testing.B) {
	benchScale(b, func(n int) string {
		var sb strings.Builder
		sb.WriteString(benchHead + "extends: [service]\nfilesystem:\n  write: [/var/lib/big]\n  tmpfs: [/run/big]\n  read: [/app")
		for i := 0; i < n; i++ {
			sb.WriteString(", /d/" + base36(i))
		}
		sb.WriteString("]\n")
		return sb.String()
	})
}

// BenchmarkScaleConnects lists n outgoing flows to distinct addresses.
func BenchmarkScaleConnects(b *testing.B) {
	benchScale(b, func(n int) string {
		var sb strings.Builder
		sb.WriteString(benchHead + "extends: [service]\nfilesystem: {read: [/app]}\nnetwork:\n  connect:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, "    - to: 10.%d.%d.%d:443/tcp\n", i>>16, i>>8&255, i&255)
		}
		return sb.String()
	})
}

// BenchmarkScaleListens serves n ports (tcp, then udp past 65,535), each from its own address.
func BenchmarkScaleListens(b *testing.B) {
	benchScale(b, func(n int) string {
		var sb strings.Builder
		sb.WriteString(benchHead + "extends: [service]\nfilesystem: {read: [/app]}\nnetwork:\n  listen:\n")
		for i := 0; i < n; i++ {
			proto := "tcp"
			if i >= 65535 {
				proto = "udp"
			}
			fmt.Fprintf(&sb, "    - {port: %d/%s, from: [10.%d.%d.%d]}\n", i%65535+1, proto, i>>16, i>>8&255, i&255)
		}
		return sb.String()
	})
}

// BenchmarkScaleSyscallArgs allows one syscall that the profiles leave out under n
// argument conditions, and denies every tenth of them again. Each condition costs about
// one BPF instruction; compile refuses more than maxArgConditions (512) conditions, so
// n stops at 200 (the denies add about as many again).
func BenchmarkScaleSyscallArgs(b *testing.B) {
	benchSizes(b, []int{100, 200}, func(n int) string {
		var sb strings.Builder
		sb.WriteString(benchHead + "extends: [service]\nfilesystem: {read: [/app]}\nsyscalls:\n  allow:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, "    - {names: [io_uring_setup], args: [{index: 1, op: eq, value: %d}]}\n", i)
		}
		sb.WriteString("  deny:\n")
		for i := 0; i < n; i += 10 {
			fmt.Fprintf(&sb, "    - {names: [io_uring_setup], args: [{index: 1, op: eq, value: %d}]}\n", i)
		}
		return sb.String()
	})
}

// hubStack is a stack where a hub serves n ports to one client, which calls each of
// them: every connect and every listen.from is matched against the other side.
func hubStack(n int) fstest.MapFS {
	var hub, client strings.Builder
	hub.WriteString("version: 1\nname: hub\nrun: {command: [/app/hub]}\nfilesystem: {read: [/app]}\nsyscalls: {extends: default}\nnetwork:\n  listen:\n")
	client.WriteString("version: 1\nname: client\nrun: {command: [/app/client]}\nfilesystem: {read: [/app]}\nsyscalls: {extends: default}\nnetwork:\n  connect:\n")
	for i := 0; i < n; i++ {
		proto, port := "tcp", i%65535+1
		if i >= 65535 {
			proto = "udp"
		}
		from := "client"
		if i == 0 {
			from = "client, host" // published
		}
		fmt.Fprintf(&hub, "    - {port: %d/%s, from: [%s]}\n", port, proto, from)
		fmt.Fprintf(&client, "    - to: hub:%d/%s\n", port, proto)
	}
	return fstest.MapFS{
		"stack.yaml":  {Data: []byte("version: 1\nname: hubs\nsubnet: 10.0.0.0/16\ncomponents: [hub.yaml, client.yaml]\npublish: ['127.0.0.1:8080 -> hub:1/tcp']\n")},
		"hub.yaml":    {Data: []byte(hub.String())},
		"client.yaml": {Data: []byte(client.String())},
	}
}

// BenchmarkScaleFlows is hubStack's two-sided check and compile, n flows. It decodes
// each file with loadBench, like the single-component benchmarks.
func BenchmarkScaleFlows(b *testing.B) {
	for _, n := range scaleSizes {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			fsys := hubStack(n)
			runScale(b, n, func() *Stack {
				var root yaml.Node
				if err := yaml.Unmarshal(fsys["stack.yaml"].Data, &root); err != nil {
					b.Fatal(err)
				}
				s := &Stack{File: "stack.yaml"}
				var err error
				if s.pos, err = decodeInto(&root, "stack.yaml", s); err != nil {
					b.Fatal(err)
				}
				s.parseValues()
				for _, f := range s.Components {
					s.Members = append(s.Members, loadBench(b, f, fsys[f].Data).Members[0])
				}
				return s
			})
		})
	}
}

// BenchmarkScaleStack is a ring of n components, each calling the next (chainStack).
func BenchmarkScaleStack(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			fsys := chainStack(n)
			runScale(b, n, func() *Stack {
				s, err := Open(fsys, "stack.yaml")
				if err != nil {
					b.Fatal(err)
				}
				return s
			})
		})
	}
}
