package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Pos is a position in a policy file. Line and Col are 1-based; zero means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one policy error: where, which field, what was found and what was expected.
type Error struct {
	Pos  Pos
	Path string // field path such as network.listen[0].from[1]; empty for whole-file errors
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
}

// ErrorList collects every error in a load, in the manner of go/scanner.ErrorList.
type ErrorList []*Error

// Add appends an error at pos. Its string and error arguments, which may hold input of
// any length, are bounded: %q prints an escaped excerpt, %s and %v print the text with
// every quoted string as an excerpt and every long word cut (see bounded). Positions
// and other values print as they are.
func (l *ErrorList) Add(pos Pos, path, format string, args ...any) {
	args = slices.Clone(args) // the caller's slice stays as it was
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = bounded(v)
		case error:
			args[i] = bounded(v.Error())
		}
	}
	*l = append(*l, &Error{Pos: pos, Path: boundPath(path), Msg: fmt.Sprintf(format, args...)})
}

// Sort orders the list by file, line, column, then message, and drops exact duplicates.
func (l *ErrorList) Sort() {
	s := *l
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Error() < b.Error()
	})
	out := s[:0]
	for i, e := range s {
		if i > 0 && e.Error() == s[i-1].Error() {
			continue
		}
		out = append(out, e)
	}
	*l = out
}

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// suggest returns a " (did you mean %q?)" hint when one candidate is close to got, or
// starts with it (NET_BIND → NET_BIND_SERVICE).
func suggest(got string, candidates []string) string {
	best, bestDist := "", len(got)/3+2 // at most len/3+1 edits, and fewer than len
	for _, c := range candidates {
		if len(got) >= 3 && strings.HasPrefix(c, got) && (best == "" || len(c) < len(best) || len(c) == len(best) && c < best) {
			best, bestDist = c, 0
		}
	}
	if len(got) > maxExcerpt*4 {
		return "" // no name is that long; the distances would cost len(got)·len(c) each
	}
	for _, c := range candidates {
		if diff := len(got) - len(c); diff > bestDist || -diff > bestDist {
			continue // the distance is at least the difference in length
		}
		d := editDistance(got, c)
		if d >= len(got) || c == got {
			continue
		}
		if d < bestDist || d == bestDist && best != "" && c < best { // ties: the smaller name, for stable output
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
