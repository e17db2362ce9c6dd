package report_test

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"testing/fstest"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/audit/report"
	"github.com/confine-sandbox/confine/policy"
)

// meshStack is a stack of n components: each calls the next and the seventh after it on
// 9000/tcp, and every tenth also calls an address outside the stack.
func meshStack(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	stack := "version: 1\nname: mesh\nsubnet: 10.77.0.0/24\ncomponents:\n"
	for i := 0; i < n; i++ {
		stack += fmt.Sprintf("  - c%d.yaml\n", i)
		outside := ""
		if i%10 == 0 {
			outside = "\n    - to: 192.0.2.0/24:443/tcp"
		}
		src := fmt.Sprintf(`version: 1
name: c%d
extends: [service]
run: {command: [/app/c], user: "1000"}
filesystem: {read: [/app], write: [/var/lib/c%d], tmpfs: [/tmp]}
network:
  listen:
    - port: 9000/tcp
      from: [c%d, c%d]
  connect:
    - to: c%d:9000/tcp
    - to: c%d:9000/tcp%s
syscalls: {extends: default, allow: [io_uring_setup]}
resources: {memory: 64Mi, pids: 32}
`, i, i, (i+n-1)%n, (i+n-7)%n, (i+1)%n, (i+7)%n, outside)
		fsys[fmt.Sprintf("c%d.yaml", i)] = &fstest.MapFile{Data: []byte(src)}
	}
	fsys["stack.yaml"] = &fstest.MapFile{Data: []byte(stack)}
	return fsys
}

// meshLog is n records: starts, exits and denials of every layer spread over the components.
func meshLog(components, n int) []audit.Record {
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	layers := []string{audit.LayerSeccomp, audit.LayerLandlock, audit.LayerNetwork}
	out := make([]audit.Record, n)
	for i := range out {
		c := fmt.Sprintf("c%d", i%components)
		r := audit.Record{Seq: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Millisecond), Stack: "mesh", Component: c, Kind: audit.KindDenial}
		switch {
		case i%50 == 0:
			r.Kind = audit.KindStart
		case i%50 == 49:
			r.Kind, r.Details = audit.KindExit, map[string]any{"exit_code": float64(i % 3)}
		case i == n/2:
			r.Kind, r.Details = audit.KindLost, map[string]any{"count": float64(12)}
		default:
			l := layers[i%3]
			r.Details = map[string]any{audit.DetailLayer: l, audit.DetailWhat: fmt.Sprintf("%s attempt %d", l, i%7),
				audit.DetailDecidedBy: "default", audit.DetailReason: c + " does something undeclared", "dport": float64(1000 + i%7)}
		}
		out[i] = r
	}
	return out
}

// BenchmarkReport100 builds and renders the report of a 100-component stack with a
// 2,000-record log. Baselines in the same run: json.Marshal of the same Plan, and
// compiling the stack from its YAML.
func BenchmarkReport100(b *testing.B) {
	fsys := meshStack(100)
	s, err := policy.Open(fsys, "stack.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	base, err := policy.BaselineSyscalls()
	if err != nil {
		b.Fatal(err)
	}
	in := report.ReportInput{Plan: p, Baseline: base, Records: meshLog(100, 2000), LogName: "mesh.log", Generated: reportTime}
	r := report.BuildReport(in)
	if len(r.Components) != 100 || len(r.Matrix.Edges) != 210 {
		b.Fatalf("%d components, %d edges", len(r.Components), len(r.Matrix.Edges))
	}
	b.Run("baseline=MarshalPlan", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=Compile", func(b *testing.B) {
		for b.Loop() {
			s, err := policy.Open(fsys, "stack.yaml")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := policy.Compile(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Build", func(b *testing.B) {
		for b.Loop() {
			report.BuildReport(in)
		}
	})
	for _, f := range []struct {
		name  string
		write func(*report.Report, io.Writer) error
	}{{"Markdown", (*report.Report).WriteMarkdown}, {"HTML", (*report.Report).WriteHTML}, {"JSON", (*report.Report).WriteJSON}} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				if err := f.write(r, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("All", func(b *testing.B) {
		for b.Loop() {
			r := report.BuildReport(in)
			for _, w := range []func(io.Writer) error{r.WriteMarkdown, r.WriteHTML, r.WriteJSON} {
				if err := w(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
