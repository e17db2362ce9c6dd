package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"
)

// hostile are seeds for the string classes and shapes an untrusted policy tries: NUL,
// bidirectional controls, zero-width and other invisible runes (escaped and literal),
// alias bombs, deep nesting, long lists, and component paths that leave the directory.
var hostile = []string{
	"version: 1\nname: a\nsyscalls: {allow: [\"mount\\x00x\"]}\n",
	"version: 1\nname: \"a\\u202e\"\nrun: {command: [\"/bin/\\u2066sh\"], env: {\"K\\u200b\": \"v\\u00ad\"}}\n",
	"version: 1\nname: a\nfilesystem: {read: [\"/et\\u200bc\", \"/\\ufe0f\", \"/\\U000E0041\", \"/\\u3164\"]}\n",
	"version: 1\nname: a # \u202e\u2066 literal bidi in a comment\n",
	"version: 1\nname: b\u200bc\n",
	"\ufeffversion: 1\nname: a\n",
	"version: 1\nname: a\nnetwork: {listen: [{port: \"80/tcp\\u2060\", from: [\"a\\u061c\"]}], connect: [{to: \"b:1/tcp\\x7f\"}]}\n",
	"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
	"x: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n",
	"x: " + strings.Repeat("{a: ", 50) + "1" + strings.Repeat("}", 50) + "\n",
	"filesystem: {read: [" + strings.Repeat("/a, ", 10_001) + "/a]}\n",
	"version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [/outside.yaml, ../outside.yaml, c/../../outside.yaml, \"\", c.yaml]\n",
	"version: 1\nname: s\nsubnet: 10.1.0.0/24\ncomponents: [\"c.yaml\\x00\", \"c\\u200b.yaml\", .]\n",
	"? [complex, key]\n: 1\n",
	"version: 1\n" + strings.Repeat("x", 100) + ": *" + strings.Repeat("y", 100) + "\n",
}

// FuzzLoad feeds arbitrary bytes through the whole pure pipeline: load, validate and,
// when valid, compile, as a policy or as a stack beside a component and beside a valid
// policy outside the stack's directory. It must never panic; every error carries a
// position and shows no invisible rune raw; a policy that passes holds visible text only
// and loads nothing from outside its directory.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"../examples/shop", "../examples/bad", "../profiles"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("version: 1\nname: a\ncomponents: [c.yaml]\nsubnet: 10.1.0.0/24\n"))
	// A member whose profiles do not merge (itself) before one that does: once a panic.
	f.Add([]byte("version: 1\nname: a\nextends: [nope]\ncomponents: [p.yaml, c.yaml]\nsubnet: 10.1.0.0/24\n"))
	for _, s := range hostile {
		f.Add([]byte(s))
	}
	valid := []byte("version: 1\nname: c\nrun: {command: [/bin/true]}\nfilesystem: {read: [/bin]}\nsyscalls: {extends: static}\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"d/p.yaml":     {Data: data},
			"d/c.yaml":     {Data: valid},
			"outside.yaml": {Data: []byte(strings.Replace(string(valid), "name: c", "name: secret", 1))},
		}
		errs := Check(fsys, "d/p.yaml")
		for _, e := range errs {
			if e.Pos.File == "" || e.Pos.Line == 0 {
				t.Fatalf("error without a position: %v", e)
			}
			if strings.Contains(e.Error(), "secret") && !strings.Contains(string(data), "secret") {
				t.Fatalf("an error shows the file outside the directory: %v", e)
			}
			for _, r := range e.Error() {
				if refusedRune(r, false) != "" {
					t.Fatalf("error shows %U raw: %q", r, e.Error())
				}
			}
		}
		if len(errs) > 0 {
			return
		}
		s, err := Open(fsys, "d/p.yaml")
		if err != nil {
			t.Fatalf("Check passed but Open failed: %v", err)
		}
		for _, c := range s.Members {
			if !strings.HasPrefix(c.File, "d/") {
				t.Fatalf("member %s loaded from outside d/", c.File)
			}
			visibleStrings(t, reflect.ValueOf(c).Elem(), c.File)
		}
		if _, err := Compile(s); err != nil {
			t.Fatalf("Check passed but Compile failed: %v", err)
		}
	})
}

// visibleStrings fails when any string field of v holds a rune the decoder refuses.
func visibleStrings(t *testing.T, v reflect.Value, where string) {
	switch v.Kind() {
	case reflect.String:
		for _, r := range v.String() {
			if refusedRune(r, true) != "" {
				t.Fatalf("%s: %q passed with %U", where, v.String(), r)
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				visibleStrings(t, v.Field(i), where)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			visibleStrings(t, v.Index(i), where)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			visibleStrings(t, k, where)
			visibleStrings(t, v.MapIndex(k), where)
		}
	}
}

// FuzzExcerpt: whatever a token holds, its excerpt is a Go string literal of at most
// maxExcerpt characters of it, with nothing invisible, and a bounded message shows no
// invisible rune raw.
func FuzzExcerpt(f *testing.F) {
	for _, s := range []string{"mount\x00x", "a\u202eb", "\u3164\ufe0f\U000E0041", strings.Repeat("é", 100), "\xff\xfe", `say "` + strings.Repeat("x", 60) + `" twice`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := excerpt(s)
		body, cut := strings.CutSuffix(q, "…")
		u, err := strconv.Unquote(body)
		if err != nil {
			t.Fatalf("excerpt %s is not a Go string: %v", q, err)
		}
		if utf8.ValidString(s) && (!strings.HasPrefix(s, u) || cut == (u == s)) {
			t.Fatalf("excerpt %s of %q is not its prefix, or the cut mark is wrong", q, s)
		}
		if utf8.RuneCountInString(u) > maxExcerpt {
			t.Fatalf("excerpt %s holds more than %d characters", q, maxExcerpt)
		}
		for _, out := range []string{q, boundMessage(s)} {
			for _, r := range out {
				if r != '\n' && refusedRune(r, false) != "" {
					t.Fatalf("%q shows %U raw", out, r)
				}
			}
		}
	})
}
