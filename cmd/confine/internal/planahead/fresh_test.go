package planahead

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freshEnv makes the test binary a fresh process that decodes a Plan once and prints
// how many nanoseconds it took: "std FILE" or "fast FILE".
const freshEnv = "CONFINE_PLANAHEAD_FRESH"

func TestMain(m *testing.M) {
	if v := os.Getenv(freshEnv); v != "" {
		os.Exit(fresh(v))
	}
	os.Exit(m.Run())
}

func fresh(v string) int {
	mode, file, _ := strings.Cut(v, " ")
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	decode := Decode
	if mode == "std" {
		decode = decodeStd
	}
	t0 := time.Now()
	_, err = decode(data)
	fmt.Println(time.Since(t0).Nanoseconds())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// BenchmarkDecodeFresh decodes bench/run.sh's Plan once in each of b.N fresh processes,
// where encoding/json learns the Plan's types anew (a decode in a loop hides that), with
// encoding/json alone (std) and with Decode (fast). The figure is µs/decode, the median;
// ns/op is the whole process's.
func BenchmarkDecodeFresh(b *testing.B) {
	file := filepath.Join(b.TempDir(), "bench.plan.json")
	if err := os.WriteFile(file, compiled(b)["bench"], 0o644); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"std", "fast"} {
		b.Run(mode, func(b *testing.B) {
			var ns []float64
			for b.Loop() {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), freshEnv+"="+mode+" "+file)
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("%s: %v", mode, err)
				}
				n, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
				if err != nil {
					b.Fatal(err)
				}
				ns = append(ns, n)
			}
			slices.Sort(ns)
			b.ReportMetric(ns[len(ns)/2]/1e3, "µs/decode")
		})
	}
}
