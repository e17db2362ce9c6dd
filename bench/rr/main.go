// Command rr times commands round-robin: each round runs every command once, in turn,
// so that a load that drifts over the run (a shared machine) weighs on all of them alike,
// which hyperfine's one-command-after-another cannot promise. It prints a Markdown table
// of medians, with each command's median and the median of its per-round ratio against
// the first command.
//
//	rr RUNS NAME=COMMAND [NAME=COMMAND…]   (COMMAND split on spaces, no shell)
package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: rr RUNS NAME=COMMAND...")
		os.Exit(2)
	}
	runs, err := strconv.Atoi(os.Args[1])
	if err != nil || runs < 1 {
		fmt.Fprintln(os.Stderr, "rr: RUNS must be a positive number")
		os.Exit(2)
	}
	var names []string
	var argvs [][]string
	for _, a := range os.Args[2:] {
		name, cmd, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "rr: %q is not NAME=COMMAND\n", a)
			os.Exit(2)
		}
		names = append(names, name)
		argvs = append(argvs, strings.Fields(cmd))
	}
	times := make([][]float64, len(names))
	ratios := make([][]float64, len(names))
	for r := 0; r < runs+3; r++ { // three warm-up rounds
		round := make([]float64, len(names))
		for i, argv := range argvs {
			t := time.Now()
			if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
				fmt.Fprintf(os.Stderr, "rr: %s: %v\n", names[i], err)
				os.Exit(1)
			}
			round[i] = float64(time.Since(t).Microseconds()) / 1000
		}
		if r < 3 {
			continue
		}
		for i := range names {
			times[i] = append(times[i], round[i])
			ratios[i] = append(ratios[i], round[i]/round[0])
		}
	}
	fmt.Printf("| command (%d interleaved rounds) | median | ratio of medians to %s | median of per-round ratios |\n| --- | --- | --- | --- |\n", runs, names[0])
	base := median(times[0])
	for i, n := range names {
		m := median(times[i])
		fmt.Printf("| %s | %.2f ms | %.2f× | %.2f× |\n", n, m, m/base, median(ratios[i]))
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
