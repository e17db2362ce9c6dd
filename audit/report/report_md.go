package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/confine-sandbox/confine/audit/privileges"
)

// WriteMarkdown writes the report as Markdown for a review comment: the diagram as a
// mermaid flowchart, tables for the rest. Every value from a policy, a Plan or the log
// is escaped (mdText) or set in a code span (mdCode), so none of it becomes markup.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	kind := "stack"
	if r.Single {
		kind = "component"
	}
	p("# confine audit report: %s %s\n\n", kind, mdCode(r.Stack))
	p("Generated %s · report format %d · %d component(s)", r.Generated.Format("2006-01-02 15:04:05Z"), r.Format, r.Summary.Components)
	if r.Subnet != "" {
		p(" · subnet %s", mdCode(r.Subnet))
	}
	if r.Log != nil {
		p(" · log %s", mdCode(r.Log.Source))
	}
	p("\n\n")
	if r.Log != nil && len(r.Log.Lost) > 0 {
		p("> [!CAUTION]\n> **The log reports %d lost-record event(s)", len(r.Log.Lost))
		if r.Log.LostTotal > 0 {
			p(", %d record(s) dropped", r.Log.LostTotal)
		}
		p(":** the kernel or a reader could not keep up, so the denials and lifecycle below are incomplete.\n\n")
	}
	p("## Summary\n\n| component | exposure (0–10) | level | findings |\n| --- | --- | --- | --- |\n")
	for _, c := range r.Components {
		p("| %s | %.1f | %s | %s |\n", mdCode(c.Name), c.Exposure.Score, c.Exposure.Level, severityList(c.Findings))
	}
	p("\nFindings in all: %s.", severityList(r.Summary.Findings))
	if r.Log != nil {
		p(" Denials observed: %d.", r.Log.Denials)
		if r.Log.ExpectedDenials > 0 {
			p(" Expected denials: %d.", r.Log.ExpectedDenials)
		}
	}
	p("\n\n")
	r.mdCommunication(p)
	p("## Findings\n\n")
	if len(r.Findings) == 0 {
		p("No findings.\n\n")
	} else {
		p("| severity | component | finding | declaration |\n| --- | --- | --- | --- |\n")
		for _, f := range r.Findings {
			p("| **%s** | %s | %s | %s |\n", f.Severity, mdCode(f.Component), mdText(f.Title), mdCode(f.Declaration))
		}
		p("\n")
	}
	for i := range r.Components {
		r.mdComponent(p, &r.Components[i])
	}
	r.mdLog(p)
	return b.Flush()
}

type printer func(format string, args ...any)

func (r *Report) mdCommunication(p printer) {
	m := r.Matrix
	p("## Communication\n\nWho may call whom, on which ports; every other flow is dropped and logged. ")
	p("`host` is traffic the stack publishes from the host and the supervisor's TCP health checks (from the bridge address, to the checked port only), `outside` any address outside the stack.\n\n")
	if len(m.Edges) == 0 {
		p("No flows: no component may call another, and nothing is published.\n\n")
		return
	}
	id := map[string]string{}
	p("```mermaid\nflowchart LR\n")
	for i, n := range m.Nodes {
		id[n] = fmt.Sprintf("n%d", i)
		switch n {
		case "host":
			p("  %s([%s]):::host\n", id[n], mermaidLabel(n))
		case "outside":
			p("  %s{{%s}}:::outside\n", id[n], mermaidLabel(n))
		default:
			p("  %s[%s]\n", id[n], mermaidLabel(n))
		}
	}
	for _, e := range m.Edges {
		p("  %s -->|%s| %s\n", id[e.From], mermaidLabel(strings.Join(e.Ports, ", ")), id[e.To])
	}
	p("  classDef host fill:#ffe08a,stroke:#b38600\n  classDef outside fill:#ffc9c9,stroke:#c0392b,stroke-dasharray:5 3\n```\n\n")
	if grid := matrixGrid(m); grid != nil {
		p("| from \\ to |")
		for _, n := range m.Nodes {
			p(" %s |", mdCode(n))
		}
		p("\n| --- |%s\n", strings.Repeat(" --- |", len(m.Nodes)))
		for i, row := range grid {
			p("| %s |", mdCode(m.Nodes[i]))
			for _, c := range row {
				if c == "" {
					c = "·"
				}
				p(" %s |", mdText(c))
			}
			p("\n")
		}
		p("\n")
	}
	p("| from | to | ports | declared by |\n| --- | --- | --- | --- |\n")
	for _, e := range m.Edges {
		whys := make([]string, len(e.Why))
		for i, w := range e.Why {
			whys[i] = mdCode(w)
		}
		p("| %s | %s | %s | %s |\n", mdCode(e.From), mdCode(e.To), mdText(strings.Join(e.Ports, ", ")), strings.Join(whys, "<br>"))
	}
	p("\n")
}

func (r *Report) mdComponent(p printer, c *ComponentReport) {
	pr := &c.Privileges
	p("## Component %s: exposure %.1f (%s)\n\n", mdCode(c.Name), c.Exposure.Score, c.Exposure.Level)
	p("Policy %s (sha256 %s), runs %s as %s", mdCode(pr.Source), mdCode(shortHash(pr.SourceHash)), mdCode(strings.Join(c.Command, " ")), pr.Identity)
	if pr.Rootfs != "" {
		p(" in rootfs %s", mdCode(pr.Rootfs))
	}
	if pr.ExecRefused {
		p("; `confine exec` into it is refused (`run.exec: false`)")
	}
	p(".\n\n")
	mdInterfaces(p, c)
	mdPrivileges(p, pr)
	p("\n**Exposure factors** (score = 10 × %d / %d = %.1f)\n\n| factor | weight | exposed | why |\n| --- | --- | --- | --- |\n",
		c.Exposure.ExposedWeight, c.Exposure.TotalWeight, c.Exposure.Score)
	for _, f := range c.Exposure.Factors {
		yes := "no"
		if f.Exposed {
			yes = "**yes**"
		}
		p("| %s | %d | %s | %s |\n", f.Name, f.Weight, yes, mdText(f.Explanation))
	}
	p("\n")
}

func mdInterfaces(p printer, c *ComponentReport) {
	pr := &c.Privileges
	p("**Declared interfaces**\n\n")
	if len(pr.Listen) == 0 && len(pr.Reaches) == 0 && len(c.Unresolved) == 0 {
		p("None: it neither listens nor connects.\n\n")
	} else {
		p("| direction | port | peer | declared by |\n| --- | --- | --- | --- |\n")
		for _, l := range pr.Listen {
			if len(l.From) == 0 {
				p("| listens | %s | no caller admitted | |\n", mdText(l.Port))
			}
			for _, from := range l.From {
				p("| listens | %s | from %s | %s |\n", mdText(l.Port), mdCode(from.Name), mdCode(from.Why))
			}
		}
		for _, re := range pr.Reaches {
			peer := mdCode(re.Peer)
			if re.Outside {
				peer = mdCode(re.Dst) + " (outside)"
			}
			p("| connects | %s | to %s | %s |\n", mdText(re.Port), peer, mdCode(re.Why))
		}
		for _, u := range c.Unresolved {
			p("| unresolved outside a stack | | %s | |\n", mdText(u))
		}
		p("\n")
	}
}

func mdPrivileges(p printer, pr *privileges.Privileges) {
	p("**Effective privileges**\n\n| | |\n| --- | --- |\n")
	p("| namespaces | %s |\n", mdText(strings.Join(pr.Namespaces, ", ")))
	p("| capabilities | %s (bounding: %s) |\n", mdList(pr.Capabilities), mdList(pr.Bounding))
	s := pr.Syscalls
	p("| syscalls | %d allowed (%d under argument conditions), %d of them in the default profile; anything else gets **%s** |\n",
		len(s.Allowed), len(s.Conditional), s.WithinBaseline, mdText(s.OnViolation))
	p("| beyond the default profile | %s |\n", mdList(s.BeyondBaseline))
	var denied []string
	for _, d := range s.Denied {
		x := mdCode(d.Syscall)
		if d.Args {
			x += " (some arguments)"
		}
		denied = append(denied, x+" "+mdCode(d.Why))
	}
	p("| explicitly denied | %s |\n", orNoneMD(denied))
	p("| writable | %s |\n", orNoneMD(grantsMD(pr.Writable, true)))
	p("| read-only | %s |\n", orNoneMD(grantsMD(pr.Readable, false)))
	p("| limits | memory %s, pids %s, cpu %s, open files %d |\n", sizeOrUnlimited(pr.Resources.MemoryMax),
		countOrUnlimited(pr.Resources.PidsMax), cpuOrUnlimited(pr.Resources.CPU), pr.Resources.Nofile)
	p("| best effort | %s |\n", mdList(pr.BestEffort))
	for _, n := range pr.Notes {
		p("| Landlock note | %s |\n", mdText(n))
	}
}

func (r *Report) mdLog(p printer) {
	p("## Observed in the log\n\n")
	l := r.Log
	if l == nil {
		p("No audit log was given (`--log`): this report covers the policy only.\n")
		return
	}
	p("%d record(s)", l.Records)
	if l.First != nil {
		p(" from %s to %s", l.First.Format("2006-01-02 15:04:05Z"), l.Last.Format("2006-01-02 15:04:05Z"))
	}
	p(".\n\n")
	if len(l.Lost) > 0 {
		p("**Lost records**\n\n| seq | time | component | dropped | details |\n| --- | --- | --- | --- | --- |\n")
		for _, x := range l.Lost {
			n := "unknown"
			if x.Count > 0 {
				n = fmt.Sprint(x.Count)
			}
			p("| %d | %s | %s | %s | %s |\n", x.Seq, x.Time.Format("2006-01-02 15:04:05Z"), mdCode(x.Component), n, mdCode(detailsString(x.Details)))
		}
		p("\n")
	}
	p("**Lifecycle**\n\n")
	if len(l.Lifecycle) == 0 {
		p("No component started.\n\n")
	} else {
		p("| component | starts | failed starts | restarts | exits |\n| --- | --- | --- | --- | --- |\n")
		for _, lc := range l.Lifecycle {
			var exits []string
			for _, e := range lc.Exits {
				exits = append(exits, e.Time.Format("15:04:05Z")+": "+mdText(exitString(e)))
			}
			p("| %s | %d | %d | %d | %s |\n", mdCode(lc.Component), lc.Starts, lc.StartFailures, lc.Restarts, orNoneMD(exits))
		}
		p("\n")
	}
	p("**Denials**\n\n")
	if len(l.DenialGroups) == 0 {
		p("No denials.\n")
	} else {
		denialTableMD(p, l.DenialGroups)
	}
	if len(l.ExpectedGroups) > 0 {
		p("\n**Expected denials** (%d): refusals confine's own profiles make by design, after which the program falls back; listed apart, not hidden.\n\n", l.ExpectedDenials)
		denialTableMD(p, l.ExpectedGroups)
	}
}

func denialTableMD(p printer, groups []DenialGroup) {
	p("| component | layer | what | count | first – last | decided by | reason |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, g := range groups {
		by := mdText(g.DecidedBy)
		if g.Rule != "" {
			by += ": " + mdCode(g.Rule)
		}
		reason := mdText(g.Reason)
		if g.NotEnforced {
			reason += " (not enforced: logged only)"
		}
		p("| %s | %s | %s | %d | %s – %s | %s | %s |\n", mdCode(g.Component), mdText(g.Layer), mdCode(g.What), g.Count,
			g.First.Format("15:04:05Z"), g.Last.Format("15:04:05Z"), by, reason)
	}
}

func grantsMD(gs []privileges.PathGrant, access bool) []string {
	var out []string
	for _, g := range gs {
		x := mdCode(g.Path)
		if access {
			x += " (" + accessSummary(g.Access) + ")"
		}
		out = append(out, x+" "+mdCode(g.Why))
	}
	return out
}

func mdList(items []string) string {
	codes := make([]string, len(items))
	for i, s := range items {
		codes[i] = mdCode(s)
	}
	return orNoneMD(codes)
}

func orNoneMD(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, "<br>")
}

func countOrUnlimited(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func cpuOrUnlimited(cpu float64) string {
	if cpu == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.2f", cpu)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// mdText escapes s for a Markdown table cell: every character that could start markup
// (emphasis, links, HTML, code, a cell boundary) is backslash-escaped, and line breaks
// become spaces. An underscore inside a word needs no escape and keeps names readable.
func mdText(s string) string {
	rs := []rune(oneLine(s))
	var b strings.Builder
	for i, c := range rs {
		switch c {
		case '\\', '`', '*', '[', ']', '<', '>', '|', '&', '~':
			b.WriteByte('\\')
		case '_':
			if i == 0 || i == len(rs)-1 || !isWordRune(rs[i-1]) || !isWordRune(rs[i+1]) {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isWordRune(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// mdCode sets s in a code span, where Markdown and HTML are not interpreted: the fence is
// one backtick longer than the longest run inside, and a cell's pipe is escaped (GFM
// removes that escape inside code spans in tables).
func mdCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// mermaidLabel quotes a label for mermaid, with its entity codes for what would end or
// break the quoted string.
func mermaidLabel(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "#", "#35;", "`", "#96;", "|", "#124;")
	return `"` + r.Replace(oneLine(s)) + `"`
}

// oneLine replaces control characters (line breaks included) with spaces.
func oneLine(s string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return ' '
		}
		return c
	}, s)
}
