// Package report builds the reviewer's report of a compiled stack: per component its
// privileges, exposure score and findings, the communication matrix, and, given an audit
// log, what happened (report.go); written as JSON, Markdown or HTML (report_md.go,
// report_html.go). It reads Plans and audit Records, never policy YAML.
package report

import (
	"encoding/json"
	"io"
	"sort"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/audit/privileges"
	"github.com/confine-sandbox/confine/policy/plan"
)

// ReportFormat is the version of the Report's JSON shape, bumped on incompatible changes.
const ReportFormat = 1

// Report is what a reviewer signs off on: per component its declared interfaces,
// effective privileges, exposure score and findings; the stack's communication matrix;
// and, given a log, what was denied and what happened. Its JSON form (WriteJSON) is the
// `--format json` output; the field names are stable within a ReportFormat.
type Report struct {
	Format int `json:"format"`
	// Generated is when the report was made; the caller passes it in, so the same inputs
	// give the same report.
	Generated time.Time `json:"generated"`
	Stack     string    `json:"stack"`
	// Single is true when the Plan came from one component file rather than a stack.
	Single     bool           `json:"single"`
	Subnet     string         `json:"subnet,omitempty"`
	Published  []plan.Publish `json:"published"`
	StartOrder []string       `json:"start_order"`
	Summary    Summary        `json:"summary"`
	// Components are in the stack's order.
	Components []ComponentReport `json:"components"`
	// Findings are every component's, most severe first, then in component order.
	Findings []Finding         `json:"findings"`
	Matrix   privileges.Matrix `json:"matrix"`
	// Log summarises the audit log; null when no log was given.
	Log *LogSummary `json:"log"`
}

// Summary is the report at a glance.
type Summary struct {
	Components int            `json:"components"`
	Findings   SeverityCounts `json:"findings"`
	// HighestScore is the highest exposure score, HighestComponent whose it is.
	HighestScore     float64 `json:"highest_score"`
	HighestComponent string  `json:"highest_component"`
	// Denials counts the log's denials (by details.count) but the expected ones, which
	// ExpectedDenials counts; LostRecords its audit.lost records and
	// Lost the records they say were dropped (where they give a count).
	Denials         int `json:"denials"`
	ExpectedDenials int `json:"expected_denials"`
	LostRecords     int `json:"lost_records"`
	Lost            int `json:"lost"`
}

// SeverityCounts counts findings by severity.
type SeverityCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

// ComponentReport is one component's part of the report.
type ComponentReport struct {
	Name string `json:"name"`
	// Command is what runs: the program and its arguments.
	Command []string `json:"command"`
	// Privileges are its declared interfaces (Listen, Reaches) and effective privileges.
	Privileges privileges.Privileges `json:"privileges"`
	// Unresolved are declarations naming components that only a stack resolves.
	Unresolved []string `json:"unresolved,omitempty"`
	Exposure   Exposure `json:"exposure"`
	// Findings counts this component's findings by severity; Report.Findings lists them.
	Findings SeverityCounts `json:"findings"`
}

// ReportInput is what a report is built from. The caller compiles the policy and reads
// the log; audit never reads YAML.
type ReportInput struct {
	Plan *plan.Plan
	// Baseline is the set of syscalls the default profile allows (policy.BaselineSyscalls).
	Baseline map[string]bool
	// Records is the audit log, or nil for a report of the policy alone; LogName names it.
	Records []audit.Record
	LogName string
	// Generated is the report's time: pass time.Now() or, for reproducible output, a fixed one.
	Generated time.Time
}

// BuildReport builds the report of in. It reads nothing but its input.
func BuildReport(in ReportInput) *Report {
	p := in.Plan
	r := &Report{
		Format: ReportFormat, Generated: in.Generated.UTC(), Stack: p.Name, Single: p.Single,
		Subnet: p.Network.Subnet, Published: privileges.OrEmpty(p.Network.Published), StartOrder: privileges.OrEmpty(p.StartOrder),
		Components: []ComponentReport{}, Findings: []Finding{},
	}
	names := privileges.Addresses(p)
	components := map[string]bool{}
	for _, c := range p.Components {
		components[c.Name] = true
	}
	privs := make([]privileges.Privileges, len(p.Components))
	for i := range p.Components {
		c := &p.Components[i]
		privs[i] = privileges.ComponentPrivileges(c, names, in.Baseline)
		s := &subject{c: c, pr: &privs[i], components: components}
		for _, pub := range p.Network.Published {
			if pub.Component == c.Name {
				s.published = append(s.published, pub)
			}
		}
		cr := ComponentReport{Name: c.Name, Command: privileges.OrEmpty(c.Process.Args), Privileges: privs[i],
			Unresolved: c.Net.Unresolved, Exposure: score(s)}
		found := componentFindings(s)
		cr.Findings = countSeverities(found)
		r.Findings = append(r.Findings, found...)
		r.Components = append(r.Components, cr)
		if i == 0 || cr.Exposure.Score > r.Summary.HighestScore {
			r.Summary.HighestScore, r.Summary.HighestComponent = cr.Exposure.Score, c.Name
		}
	}
	// Most severe first; within a severity, components keep the stack's order.
	sort.SliceStable(r.Findings, func(i, j int) bool { return r.Findings[i].Severity.rank() < r.Findings[j].Severity.rank() })
	r.Matrix = privileges.CommunicationMatrix(p, privs)
	r.Summary.Components = len(p.Components)
	r.Summary.Findings = countSeverities(r.Findings)
	if in.Records != nil {
		r.Log = summariseLog(in.LogName, in.Records, p)
		r.Summary.Denials, r.Summary.ExpectedDenials = r.Log.Denials, r.Log.ExpectedDenials
		r.Summary.LostRecords, r.Summary.Lost = len(r.Log.Lost), r.Log.LostTotal
	}
	return r
}

func countSeverities(fs []Finding) SeverityCounts {
	var n SeverityCounts
	for _, f := range fs {
		switch f.Severity {
		case Critical:
			n.Critical++
		case High:
			n.High++
		case Medium:
			n.Medium++
		case Low:
			n.Low++
		default:
			n.Info++
		}
	}
	return n
}

// WriteJSON writes the report as indented JSON: the `--format json` output.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// LogSummary is what the audit log says happened.
type LogSummary struct {
	// Source names the log as the caller gave it.
	Source  string     `json:"source"`
	Records int        `json:"records"`
	First   *time.Time `json:"first,omitempty"`
	Last    *time.Time `json:"last,omitempty"`
	// Kinds counts the records of each kind.
	Kinds map[string]int `json:"kinds"`
	// Lost are the audit.lost records: the kernel or a reader dropped records, so the log
	// is incomplete. LostTotal adds up the counts they give.
	Lost      []LostReport `json:"lost"`
	LostTotal int          `json:"lost_total"`
	// Lifecycle is per component, in the stack's order (then any other name the log uses).
	Lifecycle []Lifecycle `json:"lifecycle"`
	// Denials counts the denials (a record's details.count, 1 without one);
	// DenialGroups groups them. The expected ones (details.expected: refusals confine's
	// own profiles make by design, audit.Classify) are counted and grouped apart.
	Denials         int           `json:"denials"`
	DenialGroups    []DenialGroup `json:"denial_groups"`
	ExpectedDenials int           `json:"expected_denials"`
	ExpectedGroups  []DenialGroup `json:"expected_groups"`
}

// LostReport is one audit.lost record.
type LostReport struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Component string    `json:"component,omitempty"`
	// Count is how many records were dropped, 0 when the record does not say.
	Count   int            `json:"count"`
	Details map[string]any `json:"details,omitempty"`
}

// Lifecycle counts one component's starts, failed starts and restarts and lists its exits.
type Lifecycle struct {
	Component     string `json:"component"`
	Starts        int    `json:"starts"`
	StartFailures int    `json:"start_failures"`
	Restarts      int    `json:"restarts"`
	Exits         []Exit `json:"exits"`
}

// Exit is one component.exit record.
type Exit struct {
	Time time.Time `json:"time"`
	// Status is the exit status (128+signal when killed), nil when the record has none.
	Status    *int   `json:"status"`
	Signal    string `json:"signal,omitempty"`
	OOMKilled bool   `json:"oom_killed"`
}

// DenialGroup is the denials of one component with the same layer, what and reason.
type DenialGroup struct {
	Component string `json:"component"`
	Layer     string `json:"layer"`
	What      string `json:"what"`
	Reason    string `json:"reason"`
	DecidedBy string `json:"decided_by"`
	Rule      string `json:"rule,omitempty"`
	// NotEnforced is set for denials the kernel only logged (details.enforced false).
	NotEnforced bool `json:"not_enforced,omitempty"`
	// Count adds up the records' details.count: a refused connection's retransmissions
	// count with it.
	Count int       `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Details are the layer's own keys of the first such record (syscall, path, dport, …).
	Details map[string]any `json:"details,omitempty"`
}

// summariseLog reads records in log order.
func summariseLog(source string, records []audit.Record, p *plan.Plan) *LogSummary {
	b := logBuilder{l: &LogSummary{Source: source, Records: len(records), Kinds: map[string]int{},
		Lost: []LostReport{}, Lifecycle: []Lifecycle{}, DenialGroups: []DenialGroup{}, ExpectedGroups: []DenialGroup{}},
		life: map[string]*Lifecycle{}, groups: map[groupKey]*DenialGroup{}}
	for i := range records {
		b.add(&records[i])
	}
	return b.finish(p)
}

// logBuilder gathers a LogSummary record by record.
type logBuilder struct {
	l      *LogSummary
	life   map[string]*Lifecycle
	groups map[groupKey]*DenialGroup
}

// groupKey is what makes two denials one group.
type groupKey struct {
	component, layer, what, reason string
	expected, notEnforced          bool
}

func (b *logBuilder) add(rec *audit.Record) {
	l := b.l
	l.Kinds[rec.Kind]++
	t := rec.Time.UTC()
	if l.First == nil || t.Before(*l.First) {
		l.First = &t
	}
	if l.Last == nil || t.After(*l.Last) {
		l.Last = &t
	}
	switch rec.Kind {
	case audit.KindLost:
		n := detailInt(rec.Details, "count", "lost", "dropped")
		l.Lost = append(l.Lost, LostReport{Seq: rec.Seq, Time: t, Component: rec.Component, Count: n, Details: rec.Details})
		l.LostTotal += n
	case audit.KindStart:
		b.lifecycle(rec.Component).Starts++
	case audit.KindStartFail:
		b.lifecycle(rec.Component).StartFailures++
	case audit.KindRestart:
		b.lifecycle(rec.Component).Restarts++
	case audit.KindExit:
		e := Exit{Time: t, Signal: detailString(rec.Details, "signal")}
		if v, ok := detailNumber(rec.Details, "exit_code", "status"); ok {
			e.Status = &v
		}
		e.OOMKilled, _ = rec.Details["oom_killed"].(bool)
		lc := b.lifecycle(rec.Component)
		lc.Exits = append(lc.Exits, e)
	case audit.KindDenial, audit.KindSuppressed:
		d := rec.Details
		n := 1
		if rec.Kind == audit.KindSuppressed {
			// Each a denial, counted and not itemised: they are in the totals.
			if d, n = suppressedDenials(d); n <= 0 {
				return
			}
		} else if c, ok := detailNumber(d, audit.DetailCount); ok && c > 0 {
			n = c
		}
		k := groupKey{rec.Component, detailString(d, audit.DetailLayer), detailString(d, audit.DetailWhat), detailString(d, audit.DetailReason),
			d[audit.DetailExpected] == true, d[audit.DetailEnforced] == false}
		if k.expected {
			l.ExpectedDenials += n
		} else {
			l.Denials += n
		}
		g := b.groups[k]
		if g == nil {
			g = &DenialGroup{Component: k.component, Layer: k.layer, What: k.what, Reason: k.reason,
				DecidedBy: detailString(d, audit.DetailDecidedBy), Rule: detailString(d, audit.DetailRule), NotEnforced: k.notEnforced,
				First: t, Last: t, Details: layerDetails(d)}
			b.groups[k] = g
		}
		g.Count += n
		if t.Before(g.First) {
			g.First = t
		}
		if t.After(g.Last) {
			g.Last = t
		}
	}
}

// suppressedDenials is a KindSuppressed record as one group per chain: its reason
// without the count, so that the records of one flood group together.
func suppressedDenials(d map[string]any) (map[string]any, int) {
	n, _ := detailNumber(d, "suppressed")
	chain := detailString(d, "chain")
	out := map[string]any{audit.DetailLayer: audit.LayerNetwork, audit.DetailDecidedBy: "default",
		audit.DetailWhat:   "drops past the log limit in " + chain,
		audit.DetailReason: "dropped by " + chain + " past its log limit (" + detailString(d, "limit") + "): counted, not itemised"}
	for _, k := range []string{"chain", "limit"} {
		if v, ok := d[k]; ok {
			out[k] = v
		}
	}
	return out, n
}

func (b *logBuilder) lifecycle(name string) *Lifecycle {
	if b.life[name] == nil {
		b.life[name] = &Lifecycle{Component: name, Exits: []Exit{}}
	}
	return b.life[name]
}

// finish orders the lifecycles and denial groups: components in the stack's order, then
// the groups of each most frequent first.
func (b *logBuilder) finish(p *plan.Plan) *LogSummary {
	l := b.l
	var seen []string
	for name := range b.life {
		seen = append(seen, name)
	}
	for k := range b.groups {
		seen = append(seen, k.component)
	}
	order := componentOrder(p, seen)
	rank := make(map[string]int, len(order))
	for i, name := range order {
		rank[name] = i
		if lc := b.life[name]; lc != nil {
			l.Lifecycle = append(l.Lifecycle, *lc)
		}
	}
	for k, g := range b.groups {
		if k.expected {
			l.ExpectedGroups = append(l.ExpectedGroups, *g)
		} else {
			l.DenialGroups = append(l.DenialGroups, *g)
		}
	}
	sortGroups(l.DenialGroups, rank)
	sortGroups(l.ExpectedGroups, rank)
	return l
}

// sortGroups puts components in the stack's order, then each one's most frequent first.
func sortGroups(groups []DenialGroup, rank map[string]int) {
	sort.Slice(groups, func(i, j int) bool {
		a, b := &groups[i], &groups[j]
		if ai, bi := rank[a.Component], rank[b.Component]; ai != bi {
			return ai < bi
		}
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Layer != b.Layer {
			return a.Layer < b.Layer
		}
		if a.What != b.What {
			return a.What < b.What
		}
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		return !a.NotEnforced && b.NotEnforced
	})
}

// componentOrder is the stack's components, then any other name in seen, sorted (the
// empty name, records of the stack itself, last).
func componentOrder(p *plan.Plan, seen []string) []string {
	var order, extra []string
	known := map[string]bool{}
	for _, c := range p.Components {
		order = append(order, c.Name)
		known[c.Name] = true
	}
	for _, name := range seen {
		if !known[name] {
			known[name] = true
			extra = append(extra, name)
		}
	}
	sort.Slice(extra, func(i, j int) bool {
		if (extra[i] == "") != (extra[j] == "") {
			return extra[j] == ""
		}
		return extra[i] < extra[j]
	})
	return append(order, extra...)
}

// layerDetails are a denial's details beyond the keys every layer carries.
func layerDetails(d map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		switch k {
		case audit.DetailLayer, audit.DetailWhat, audit.DetailDecidedBy, audit.DetailRule, audit.DetailReason, audit.DetailCount, audit.DetailExpected, audit.DetailEnforced, "retransmissions":
		default:
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func detailString(d map[string]any, key string) string {
	s, _ := d[key].(string)
	return s
}

// detailNumber reads the first of keys that holds a number (JSON numbers decode as float64).
func detailNumber(d map[string]any, keys ...string) (int, bool) {
	for _, k := range keys {
		switch v := d[k].(type) {
		case float64:
			return int(v), true
		case int:
			return v, true
		case int64:
			return int(v), true
		case uint64:
			return int(v), true
		case json.Number:
			if n, err := v.Int64(); err == nil {
				return int(n), true
			}
		}
	}
	return 0, false
}

func detailInt(d map[string]any, keys ...string) int {
	n, _ := detailNumber(d, keys...)
	return n
}
