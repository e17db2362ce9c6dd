package policy

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a reviewer reads must be what the kernel enforces: a string with an invisible
// character ("mount\x00x", "mo\u200bunt") reads as another, and a bidirectional control
// reorders what follows it on screen (Trojan Source, CVE-2021-42574). Such runes are
// refused by Unicode property, not by a list of code points: a list misses some.

// refusedRune names the class of r when a policy string may not hold it, or "".
// allowTab admits a tab, which argv and environment values may carry.
func refusedRune(r rune, allowTab bool) string {
	switch {
	case r >= ' ' && r < 0x7f:
		return "" // printable ASCII, nearly every rune of a policy
	case r == '\t' && allowTab:
		return ""
	case r == utf8.RuneError:
		return "an invalid UTF-8 sequence"
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.Is(unicode.Bidi_Control, r):
		return "a bidirectional control"
	case unicode.Is(unicode.Cf, r):
		return "an invisible format character"
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r), unicode.Is(unicode.Variation_Selector, r):
		return "an invisible character"
	case unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r):
		return "a private-use character"
	case unicode.Is(unicode.Noncharacter_Code_Point, r):
		return "a noncharacter"
	case unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		return "a line separator"
	case r != ' ' && unicode.Is(unicode.Zs, r):
		return "a space other than U+0020" // U+00A0, U+3000: look like a space, compare unequal
	}
	return ""
}

// checkText returns a message saying why s may not stand in a policy, or "". It names
// the first refused rune, its place in s, and an escaped excerpt of s.
func checkText(s string, allowTab bool) string {
	i := 0
	// U+FFFD, literal or decoded from a byte that is no UTF-8, is refused as a policy file
	// refuses it (refusedRune): a string that could not stand in a file stands nowhere.
	for _, r := range s {
		i++
		if class := refusedRune(r, allowTab); class != "" {
			return fmt.Sprintf("contains %s (%U) at character %d of %s; expected visible text", class, r, i, excerpt(s))
		}
	}
	return ""
}

// maxExcerpt is how many characters of an offending token a message repeats.
const maxExcerpt = 40

// excerpt quotes at most maxExcerpt characters of s, Go-escaped so that nothing
// invisible reaches a terminal, and marks a cut with "…".
func excerpt(s string) string {
	cut := false
	n := 0
	for i := range s {
		if n == maxExcerpt {
			s, cut = s[:i], true
			break
		}
		n++
	}
	q := quote(s)
	if cut {
		return q + "…"
	}
	return q
}

// quote is strconv.Quote, also escaping the refused runes it deems printable (variation
// selectors, Hangul fillers).
func quote(s string) string {
	q := strconv.Quote(s)
	if !strings.ContainsFunc(q, func(r rune) bool { return refusedRune(r, false) != "" }) {
		return q
	}
	var b strings.Builder
	for _, r := range q {
		if refusedRune(r, false) != "" {
			e := strconv.QuoteRuneToASCII(r)
			b.WriteString(e[1 : len(e)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// bounded is an argument of an error message that may come from the input: %q formats
// it as an excerpt, other verbs as boundMessage does.
type bounded string

func (b bounded) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, excerpt(string(b)))
		return
	}
	io.WriteString(f, boundMessage(string(b)))
}

// boundMessage keeps text from repeating more than an excerpt of the input: every
// Go-quoted string in it is requoted as an excerpt, every other run of more than
// maxExcerpt non-space characters is cut, and invisible runes are escaped.
func boundMessage(msg string) string {
	if !needsBound(msg) {
		return msg
	}
	var b strings.Builder
	for len(msg) > 0 {
		if msg[0] == '"' {
			if q, err := strconv.QuotedPrefix(msg); err == nil {
				s, _ := strconv.Unquote(q)
				b.WriteString(excerpt(s))
				msg = msg[len(q):]
				continue
			}
		}
		end := strings.IndexAny(msg[1:], " \n\"")
		if end < 0 {
			end = len(msg)
		} else {
			end++
		}
		b.WriteString(boundWord(msg[:end]))
		msg = msg[end:]
	}
	return b.String()
}

func needsBound(msg string) bool {
	run := 0
	for _, r := range msg {
		if refusedRune(r, false) != "" && r != '\n' {
			return true
		}
		if r == ' ' || r == '\n' {
			run = 0
		} else if run++; run > maxExcerpt || r == '"' {
			return true
		}
	}
	return false
}

// boundWord escapes refused runes in w and cuts it after maxExcerpt characters.
func boundWord(w string) string {
	var b strings.Builder
	n := 0
	for _, r := range w {
		if n == maxExcerpt {
			b.WriteString("…")
			break
		}
		n++
		if r != '\n' && refusedRune(r, false) != "" {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// boundPath bounds each element of a field path (a mapping key may be any text).
func boundPath(path string) string {
	if !needsBound(path) {
		return path
	}
	parts := strings.Split(path, ".")
	for i, p := range parts {
		parts[i] = boundWord(p)
	}
	return strings.Join(parts, ".")
}

// Bound is boundMessage for other packages: text that may repeat input (a JSON decoding
// error quoting a field name), with quoted strings cut to excerpts and long words cut.
func Bound(s string) string { return boundMessage(s) }

// PlainJSON reports whether data, were it JSON, could hold no string CheckVisible refuses:
// every byte printable ASCII or a blank between tokens (tab, newline, return), and no
// backslash. Without an escape a string holds its bytes as they stand, and a raw control
// character inside one is not JSON, so each string decoded from such data is printable
// ASCII, which CheckVisible passes without a look (refusedRune's first case): a caller
// may skip its walk. Any other byte, an escape among them, leaves the walk to decide.
func PlainJSON(data []byte) bool {
	for _, b := range data {
		if (b < ' ' || b > '~' || b == '\\') && b != '\t' && b != '\n' && b != '\r' {
			return false
		}
	}
	return true
}

// CheckVisible walks every string in v (a Plan read from JSON, which no YAML decoder has
// checked) and reports the first that holds a rune a policy may not, with its field
// path. Tabs pass in Args and Env, as in a policy's run.command and run.env.
func CheckVisible(v any) error {
	rv := reflect.ValueOf(v)
	if visible(rv) {
		return nil
	}
	return checkVisible(rv, nil, false)
}

// visible is checkVisible's walk with no path and tabs refused everywhere: it allocates
// nothing (a path costs an allocation a field, and a Plan has thousands), and when it
// fails, on a tab in Args or Env or a real offence, the walk with paths decides.
func visible(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || visible(v.Elem())
	case reflect.String:
		return checkText(v.String(), false) == ""
	case reflect.Struct:
		for i := range v.NumField() {
			// CanInterface is IsExported without building the StructField.
			if f := v.Field(i); f.CanInterface() && !visible(f) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true
		}
		for i := range v.Len() {
			if !visible(v.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !visible(it.Key()) || !visible(it.Value()) {
				return false
			}
		}
	}
	return true
}

// fieldPath is where checkVisible is, as a chain to the root: it is spelt out only for
// an error, since a Plan holds hundreds of strings and nearly always passes.
type fieldPath struct {
	up    *fieldPath
	field string // a struct field's name, or "" for an element
	index int
}

func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	if p.field != "" {
		return p.up.String() + "." + p.field
	}
	return p.up.String() + "[" + strconv.Itoa(p.index) + "]"
}

// checkVisible walks v at path; tab is set beneath an element of Args or Env.
func checkVisible(v reflect.Value, path *fieldPath, tab bool) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkVisible(v.Elem(), path, tab)
		}
	case reflect.String:
		if msg := checkText(v.String(), tab); msg != "" {
			return fmt.Errorf("%s: %s", strings.TrimPrefix(path.String(), "."), msg)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				if err := checkVisible(v.Field(i), &fieldPath{up: path, field: f.Name}, tab); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytes (a BPF program), not text
		}
		tab = tab || path != nil && (path.field == "Args" || path.field == "Env")
		for i := 0; i < v.Len(); i++ {
			if err := checkVisible(v.Index(i), &fieldPath{up: path, index: i}, tab); err != nil {
				return err
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if err := checkVisible(k, path, tab); err != nil {
				return err
			}
			if err := checkVisible(v.MapIndex(k), path, tab); err != nil {
				return err
			}
		}
	}
	return nil
}
