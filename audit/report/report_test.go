package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/audit/report"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
)

// reportTime is every golden's Generated time: reports must not depend on the clock.
var reportTime = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func compileExample(t testing.TB, name string) *plan.Plan {
	t.Helper()
	s, err := policy.Open(os.DirFS("../../examples"), name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func baseline(t testing.TB) map[string]bool {
	t.Helper()
	b, err := policy.BaselineSyscalls()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleReport is the report of an example stack with its hand-written log.
func exampleReport(t testing.TB, stack string) *report.Report {
	t.Helper()
	log := "testdata/" + stack + ".log.jsonl"
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	return report.BuildReport(report.ReportInput{Plan: compileExample(t, stack+"/stack.yaml"), Baseline: baseline(t),
		Records: records, LogName: log, Generated: reportTime})
}

func render(t testing.TB, r *report.Report, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "md":
		err = r.WriteMarkdown(&b)
	case "html":
		err = r.WriteHTML(&b)
	case "json":
		err = r.WriteJSON(&b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReportGolden compares the reports of the example stacks, with their hand-written
// logs, with testdata/*.report.{md,html,json}.
func TestReportGolden(t *testing.T) {
	for _, stack := range []string{"shop", "demo"} {
		r := exampleReport(t, stack)
		for _, format := range []string{"md", "html", "json"} {
			file := "testdata/" + stack + ".report." + format
			got := render(t, r, format)
			golden(t, file, got)
			if again := render(t, exampleReport(t, stack), format); !bytes.Equal(got, again) {
				t.Errorf("%s: two reports of the same inputs differ", file)
			}
		}
	}
}

// TestReportContents checks what a reviewer must find in the shop report.
func TestReportContents(t *testing.T) {
	r := exampleReport(t, "shop")
	// 10 denial records, one a tally of 4 retransmissions; the clone3 one is expected.
	if r.Summary.LostRecords != 1 || r.Summary.Lost != 17 || r.Summary.Denials != 14 || r.Summary.ExpectedDenials != 1 {
		t.Errorf("summary: %+v", r.Summary)
	}
	if len(r.Log.ExpectedGroups) != 1 || r.Log.ExpectedGroups[0].What != "syscall clone3" {
		t.Errorf("expected groups: %+v", r.Log.ExpectedGroups)
	}
	for _, g := range r.Log.DenialGroups {
		if g.What == "syscall clone3" {
			t.Errorf("an expected denial among the others: %+v", g)
		}
		if g.What == "frontend connects to db:5432/tcp" && g.Count != 7 {
			t.Errorf("3 refused connections and 4 retransmissions counted %d", g.Count)
		}
	}
	var ptrace *report.DenialGroup
	for i, g := range r.Log.DenialGroups {
		if g.What == "syscall ptrace" {
			ptrace = &r.Log.DenialGroups[i]
		}
	}
	if ptrace == nil || ptrace.Count != 2 || ptrace.Component != "api" || !strings.HasPrefix(ptrace.Rule, "shop/api.yaml:23:10") ||
		!ptrace.Last.After(ptrace.First) || ptrace.Details["syscall"] != "ptrace" {
		t.Errorf("ptrace denials: %+v", ptrace)
	}
	var db report.Lifecycle
	for _, l := range r.Log.Lifecycle {
		if l.Component == "db" {
			db = l
		}
	}
	if db.Starts != 2 || db.Restarts != 1 || len(db.Exits) != 2 || db.Exits[0].Status == nil || *db.Exits[0].Status != 159 {
		t.Errorf("db lifecycle: %+v", db)
	}
	md := string(render(t, r, "md"))
	for _, want := range []string{
		"> **The log reports 1 lost-record event(s), 17 record(s) dropped",
		"```mermaid\nflowchart LR\n",
		`n3 -->|"8080/tcp"| n0`,
		"| **high** | `api` | allows io_uring_enter | `shop/api.yaml syscalls.allow` |",
		"| `api` | seccomp | `syscall ptrace` | 2 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if i, j := strings.Index(md, "lost-record"), strings.Index(md, "## Summary"); i < 0 || i > j {
		t.Error("the lost records are not shown before the summary")
	}
}

// TestReportJSONShape decodes the JSON report and checks its top-level fields, which
// docs/audit-report.md documents and consumers rely on.
func TestReportJSONShape(t *testing.T) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(render(t, exampleReport(t, "demo"), "json"), &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "generated", "stack", "single", "subnet", "published", "start_order", "summary", "components", "findings", "matrix", "log"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if string(top["generated"]) != `"2026-11-20T10:00:00Z"` {
		t.Errorf("generated = %s", top["generated"])
	}
	var noLog map[string]json.RawMessage
	r := report.BuildReport(report.ReportInput{Plan: compileExample(t, "shop/stack.yaml"), Baseline: baseline(t), Generated: reportTime})
	if err := json.Unmarshal(render(t, r, "json"), &noLog); err != nil || string(noLog["log"]) != "null" {
		t.Errorf("a report without a log: log = %s, %v", noLog["log"], err)
	}
}

// TestReportEscapes: names, paths and reasons come from files and from the kernel; none
// of them may become markup in any format.
func TestReportEscapes(t *testing.T) {
	p := compileExample(t, "shop/stack.yaml")
	evil := `/srv/<script>alert(1)</script>`
	p.Components[0].Landlock.Paths = append(p.Components[0].Landlock.Paths,
		plan.PathRule{Path: evil, Access: []string{"write_file", "execute"}, Why: "x.yaml:1:1 filesystem.write[0] " + evil + " | `a` [l](http://e)"})
	p.Components[0].Landlock.Notes = []string{"<img src=x onerror=alert(2)>"}
	records := []audit.Record{{Seq: 1, Time: reportTime, Component: "api<b>", Kind: audit.KindDenial, Details: map[string]any{
		audit.DetailLayer: "landlock", audit.DetailWhat: "write_file " + evil, audit.DetailDecidedBy: "default",
		audit.DetailReason: "</td></tr></table><script>alert(3)</script>", "path": evil}}}
	r := report.BuildReport(report.ReportInput{Plan: p, Baseline: baseline(t), Records: records, LogName: "<log>", Generated: reportTime})

	html := string(render(t, r, "html"))
	for _, bad := range []string{"<script", "<img", "api<b>", "</td></tr></table><"} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML holds %q unescaped", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("HTML does not show the path as text")
	}
	md := string(render(t, r, "md"))
	for _, bad := range []string{"<script", "<img", "](http", "api<b>"} {
		for off := 0; ; {
			i := strings.Index(md[off:], bad)
			if i < 0 {
				break
			}
			i += off
			if !inCodeSpan(md, i) && (i == 0 || md[i-1] != '\\') {
				t.Errorf("Markdown holds %q unescaped outside a code span: …%s…", bad, md[max(0, i-40):min(len(md), i+40)])
			}
			off = i + 1
		}
	}
	if !strings.Contains(md, `\<script\>`) {
		t.Error("Markdown does not escape the path in prose")
	}
	var back report.Report
	if err := json.Unmarshal(render(t, r, "json"), &back); err != nil || back.Log.DenialGroups[0].Details["path"] != evil {
		t.Errorf("JSON does not round-trip the path: %v", err)
	}
}

// inCodeSpan reports whether md[i] lies inside a code span on its line: a run of n
// backticks opens one, the next run of exactly n closes it.
func inCodeSpan(md string, i int) bool {
	line := strings.LastIndexByte(md[:i], '\n') + 1
	end := strings.IndexByte(md[i:], '\n')
	if end < 0 {
		end = len(md) - i
	}
	end += i
	run := func(j int) int {
		n := 0
		for j+n < end && md[j+n] == '`' {
			n++
		}
		return n
	}
	for j := line; j < end; {
		n := run(j)
		if n == 0 {
			if md[j] == '\\' {
				j++ // an escaped character
			}
			j++
			continue
		}
		open := j
		closeAt := -1
		for k := j + n; k < end; {
			if m := run(k); m > 0 {
				if m == n {
					closeAt = k
					break
				}
				k += m
			} else {
				k++
			}
		}
		if closeAt < 0 {
			return false
		}
		if open < i && i < closeAt {
			return true
		}
		j = closeAt + n
	}
	return false
}

// TestReportSuppressed: the drops a firewall's log limit kept out of the log are in the
// report's denials, by count, grouped per chain: a flood of 400 with 40 logged reads 400,
// not 40.
func TestReportSuppressed(t *testing.T) {
	p := compileExample(t, "shop/stack.yaml")
	var records []audit.Record
	at := reportTime.Add(-time.Hour)
	for i := range 40 {
		records = append(records, audit.Record{Seq: uint64(i + 1), Time: at, Component: "api", Kind: audit.KindDenial,
			Details: map[string]any{audit.DetailLayer: audit.LayerNetwork, audit.DetailWhat: "connect 198.18.0.1:9/udp", audit.DetailReason: "undeclared"}})
	}
	for i, n := range []float64{300, 60} { // as JSON decodes them
		records = append(records, audit.Record{Seq: uint64(41 + i), Time: at.Add(time.Duration(i+1) * 5 * time.Second), Component: "api",
			Kind: audit.KindSuppressed, Details: map[string]any{audit.DetailLayer: audit.LayerNetwork, "chain": "egress", "suppressed": n,
				"limit": "limit rate 20/second burst 40 packets", audit.DetailReason: fmt.Sprintf("%v more packets were dropped", n)}})
	}
	r := report.BuildReport(report.ReportInput{Plan: p, Baseline: baseline(t), Records: records, LogName: "flood.log", Generated: reportTime})
	if r.Summary.Denials != 400 {
		t.Errorf("%d denials in the summary, want 400 (40 logged, 360 past the log limit)", r.Summary.Denials)
	}
	var found bool
	for _, g := range r.Log.DenialGroups {
		if g.Component == "api" && g.What == "drops past the log limit in egress" {
			found = true
			if g.Count != 360 {
				t.Errorf("the suppressed group counts %d, want 360", g.Count)
			}
		}
	}
	if !found {
		t.Errorf("no group for the suppressed drops: %+v", r.Log.DenialGroups)
	}
	if md := string(render(t, r, "md")); !strings.Contains(md, "drops past the log limit in egress") {
		t.Error("the markdown report does not show the suppressed drops")
	}
}
