package diff

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// Markdown writes the diff for a review comment: a heading with the verdict, then for
// each changed component what it grants, what it takes away and the notes, one bullet per
// change (or per run of changes of one kind from one declaration), ordered by kind.
// Everything from the Plans is escaped: a policy under review cannot forge a line.
func (d *PlanDiff) Markdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "## confine audit diff: %s\n", diffMDText(d.Verdict))
	if len(d.Components) == 0 {
		fmt.Fprintf(b, "\nNo component changed.\n")
	}
	for _, c := range d.Components {
		fmt.Fprintf(b, "\n### %s (%s, %s)\n", diffMDText(c.Component), c.Status, diffMDCode(c.Source))
		for _, sec := range []struct {
			title   string
			changes []PrivilegeChange
		}{{"Grants", c.Grants}, {"Takes away", c.TakesAway}, {"Notes", c.Notes}} {
			if len(sec.changes) == 0 {
				continue
			}
			fmt.Fprintf(b, "\n%s:\n", sec.title)
			diffWriteChanges(b, sec.changes)
		}
	}
	return b.Flush()
}

// diffWriteChanges writes one bullet per run of changes sharing kind, detail and declaration.
func diffWriteChanges(w io.Writer, changes []PrivilegeChange) {
	sorted := slices.Clone(changes)
	slices.SortStableFunc(sorted, func(a, b PrivilegeChange) int {
		return slices.Index(ChangeKinds, a.Kind) - slices.Index(ChangeKinds, b.Kind)
	})
	for i := 0; i < len(sorted); {
		c := sorted[i]
		whats := []string{diffMDCode(c.What)}
		j := i + 1
		for ; j < len(sorted); j++ {
			n := sorted[j]
			if n.Kind != c.Kind || n.Detail != c.Detail || n.Why != c.Why {
				break
			}
			whats = append(whats, diffMDCode(n.What))
		}
		line := "- " + strings.ReplaceAll(c.Kind, "_", " ") + " " + strings.Join(whats, ", ")
		if c.Detail != "" {
			line += ": " + diffMDText(c.Detail)
		}
		if c.Why != "" {
			line += " — " + diffMDCode(c.Why)
		}
		fmt.Fprintln(w, line)
		i = j
	}
}

// diffMDText makes s safe on one Markdown line: control characters (newlines included)
// become U+FFFD; backslashes, backticks, emphasis, links and HTML are escaped.
func diffMDText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			b.WriteRune('\uFFFD')
		case strings.ContainsRune("\\`*[]<>", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// diffMDCode writes s as inline code; a backtick inside becomes a quote, which code spans
// cannot escape.
func diffMDCode(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '`':
			return '\''
		case unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
	return "`" + s + "`"
}
