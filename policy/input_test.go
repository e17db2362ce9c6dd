package policy

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// Each row replaces one line of base and names the refusal it must cause, with its
// position: invisible and control characters in every kind of string field and key.
// The YAML is double-quoted, so \x00, \u200b and the like are escapes the file's text
// does not show.
func TestInvisibleCharactersRefused(t *testing.T) {
	cases := []struct{ old, new, want string }{
		{"extends: default", `extends: default` + "\n" + `  allow: ["mount\x00x"]`, `c.yaml:14:11: syscalls.allow[0]: contains a control character (U+0000) at character 6 of "mount\x00x"; expected visible text`},
		{"extends: default", `extends: default` + "\n" + `  deny: [{names: ["ptrace\u200b"]}]`, `c.yaml:14:19: syscalls.deny[0].names[0]: contains an invisible format character (U+200B) at character 7 of "ptrace\u200b"`},
		{"extends: default", `extends: "default\u202e"`, `c.yaml:13:12: syscalls.extends: contains a bidirectional control (U+202E) at character 8`},
		{"name: billing", `name: "bill\u2066ing"`, `c.yaml:2:7: name: contains a bidirectional control (U+2066) at character 5 of "bill\u2066ing"`},
		{"name: billing", `name: "bill\ting"`, `c.yaml:2:7: name: contains a control character (U+0009) at character 5 of "bill\ting"`},
		{"name: billing", `name: "billing\u061c"`, `c.yaml:2:7: name: contains a bidirectional control (U+061C)`},
		{"name: billing", `name: "bill\u00ading"`, `c.yaml:2:7: name: contains an invisible format character (U+00AD)`},
		{"name: billing", `name: "bill\u3164ing"`, `c.yaml:2:7: name: contains an invisible character (U+3164) at character 5 of "bill\u3164ing"`},
		{"name: billing", `name: "bill\u115fing"`, `c.yaml:2:7: name: contains an invisible character (U+115F)`},
		{"name: billing", `name: "bill\uffa0ing"`, `c.yaml:2:7: name: contains an invisible character (U+FFA0)`},
		{"name: billing", `name: "bill\u180eing"`, `c.yaml:2:7: name: contains an invisible format character (U+180E)`},
		{"name: billing", `name: "bill\u2063ing"`, `c.yaml:2:7: name: contains an invisible format character (U+2063)`},
		{"name: billing", `name: "bill\ufeffing"`, `c.yaml:2:7: name: contains an invisible format character (U+FEFF)`},
		{"name: billing", `name: "billing\U000E0041"`, `c.yaml:2:7: name: contains an invisible format character (U+E0041)`},
		{"name: billing", `name: "billing\ufe0f"`, `c.yaml:2:7: name: contains an invisible character (U+FE0F) at character 8 of "billing\ufe0f"`},
		{"name: billing", `name: "billing\ue000"`, `c.yaml:2:7: name: contains a private-use character (U+E000)`},
		{"name: billing", `name: "billing\uffff"`, `c.yaml:2:7: name: contains a noncharacter (U+FFFF)`},
		{"name: billing", `name: "bill\u2028ing"`, `c.yaml:2:7: name: contains a line separator (U+2028)`},
		{"name: billing", `name: "bill\u00a0ing"`, `c.yaml:2:7: name: contains a space other than U+0020 (U+00A0)`},
		{"name: billing", `name: "bill\x85ing"`, `c.yaml:2:7: name: contains a control character (U+0085)`},
		{"command: [/app/billing]", `command: [/app/billing, "\u202eevil"]`, `c.yaml:4:27: run.command[1]: contains a bidirectional control (U+202E) at character 1 of "\u202eevil"`},
		{"command: [/app/billing]", `command: ["/app/bil\u200dling"]`, `c.yaml:4:13: run.command[0]: contains an invisible format character (U+200D)`},
		{"command: [/app/billing]", `command: [/app/billing]` + "\n" + `  rootfs: "./root\u200bfs"`, `c.yaml:5:11: run.rootfs: contains an invisible format character (U+200B)`},
		{"command: [/app/billing]", `command: [/app/billing]` + "\n" + `  workdir: "/app\x7f"`, `c.yaml:5:12: run.workdir: contains a control character (U+007F)`},
		{"command: [/app/billing]", `command: [/app/billing]` + "\n" + `  env: {"LOG\u200b": info}`, `c.yaml:5:9: run.env: contains an invisible format character (U+200B) at character 4 of "LOG\u200b"`},
		{"command: [/app/billing]", `command: [/app/billing]` + "\n" + `  env: {LOG: "in\u2067fo"}`, `c.yaml:5:14: run.env.LOG: contains a bidirectional control (U+2067)`},
		{"command: [/app/billing]", `command: [/app/billing]` + "\n" + `  env: {LOG: "a\nb"}`, `c.yaml:5:14: run.env.LOG: contains a control character (U+000A)`},
		{`user: "1000:1000"`, `user: "1000:1000\u200c"`, `c.yaml:5:9: run.user: contains an invisible format character (U+200C)`},
		{"read: [/app]", `read: [/app, "/et\u200bc"]`, `c.yaml:7:16: filesystem.read[1]: contains an invisible format character (U+200B) at character 4 of "/et\u200bc"`},
		{"read: [/app]", "read: [/app]\n" + `  write: ["/data\x00"]`, `c.yaml:8:11: filesystem.write[0]: contains a control character (U+0000)`},
		{"port: 8080/tcp", `port: "8080/tcp\u2060"`, `c.yaml:10:13: network.listen[0].port: contains an invisible format character (U+2060)`},
		{"from: [10.0.0.0/8]", `from: ["10.0.0.0/8\u200e"]`, `c.yaml:11:14: network.listen[0].from[0]: contains a bidirectional control (U+200E)`},
		{"from: [10.0.0.0/8]", "from: [10.0.0.0/8]\n  connect:\n" + `    - to: "ledger:9000/tcp\u202c"`, `c.yaml:13:11: network.connect[0].to: contains a bidirectional control (U+202C)`},
		{"extends: default", "extends: default\n" + `capabilities: ["NET_ADMIN\u200b"]`, `c.yaml:14:16: capabilities[0]: contains an invisible format character (U+200B)`},
		{"extends: default", "extends: default\n" + `resources: {memory: "64Mi\u200b"}`, `c.yaml:14:21: resources.memory: contains an invisible format character (U+200B)`},
		{"extends: default", "extends: default\n" + `best_effort: ["landlock\u2064"]`, `c.yaml:14:15: best_effort[0]: contains an invisible format character (U+2064)`},
		{"extends: default", "extends: default\n" + `extends: ["service\u034f"]`, `c.yaml:14:11: extends[0]: contains an invisible character (U+034F)`},
		{"extends: default", "extends: default\n" + `  allow: [{names: [ioctl], args: [{index: 1, op: "eq\u200b", value: TIOCSTI}]}]`, `c.yaml:14:50: syscalls.allow[0].args[0].op: contains an invisible format character (U+200B)`},
		{"extends: default", "extends: default\n" + `  allow: [{names: [ioctl], args: [{index: 1, op: eq, value: "TIOCSTI\u200b"}]}]`, `syscalls.allow[0].args[0].value: contains an invisible format character (U+200B)`},
		{"extends: default", "extends: default\n" + `"syscall\u200bs": {}`, `c.yaml:14:1: contains an invisible format character (U+200B) at character 8 of "syscall\u200bs"`},
		// The file's own text: a bidirectional control in a comment is refused where it stands.
		{"extends: default", "extends: default # \u202e evil", `c.yaml:13:22: the file contains a bidirectional control (U+202E); policy files hold visible text only`},
		{"name: billing", "name: bill\u200bing", `c.yaml:2:11: the file contains an invisible format character (U+200B)`},
	}
	for _, tc := range cases {
		if !strings.Contains(base, tc.old) {
			t.Fatalf("bad row: %q is not in base", tc.old)
		}
		src := strings.Replace(base, tc.old, tc.new, 1)
		got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n got: %s\nwant: %s", tc.new, got, tc.want)
		}
	}
}

// TestNULSyscallNotAllowed is the case: "mount\0x" once compiled to the same BPF
// as mount while the report lost its finding. Now it does not load at all.
func TestNULSyscallNotAllowed(t *testing.T) {
	src := strings.Replace(base, "extends: default", "extends: default\n  allow: [\"mount\\x00x\"]", 1)
	fsys := fstest.MapFS{"c.yaml": {Data: []byte(src)}}
	s, err := Open(fsys, "c.yaml")
	if err == nil {
		t.Fatal("a syscall name with a NUL loaded")
	}
	// Even a caller that ignores the error cannot compile it: the name is kept escaped.
	if got := s.Members[0].Syscalls.Allow[0].Names; len(got) != 1 || got[0] != `"mount\x00x"` {
		t.Fatalf("the refused name was kept as %q", got)
	}
	if _, err := Compile(s); err == nil {
		t.Fatal("a syscall name with a NUL compiled")
	}
}

// Ordinary text stays allowed where a field takes text; tabs only in argv and env values.
func TestVisibleTextAllowed(t *testing.T) {
	for _, tc := range []struct{ old, new string }{
		{"command: [/app/billing]", `command: [/app/billing, "café", "a\tb", "日本語"]`},
		{"command: [/app/billing]", `command: [/app/billing]` + "\n" + `  env: {GREETING: "Grüße\tà tous"}`},
		{"name: billing", "# café, ünïcödé and a tab:\t in a comment\nname: billing"},
		{"version: 1", "\ufeffversion: 1"}, // a byte-order mark opens the file
	} {
		src := strings.Replace(base, tc.old, tc.new, 1)
		if got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml"); got != "" {
			t.Errorf("%s: %s", tc.new, got)
		}
	}
}

// TestLimits: each limit refuses the first input past it with one error naming the limit.
func TestLimits(t *testing.T) {
	list := func(n int, item string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = strings.ReplaceAll(item, "%d", fmt.Sprint(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	nested := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	aliases := "x: &a [1]\ny: [" + strings.Repeat("*a, ", maxAliases) + "*a]\n"
	cases := []struct{ name, src, want string }{
		{"file size", "version: 1\n# " + strings.Repeat("x", maxFileSize) + "\n", "c.yaml: cannot read the file: the file is larger than 1048576 bytes (1 MiB), the limit for one file"},
		{"components", "version: 1\nname: s\ncomponents: " + list(maxComponents+1, "c%d.yaml") + "\n", "c.yaml:3:13: components: the list has 4097 entries; the limit is 4096"},
		{"list length", "filesystem:\n  read: " + list(maxListLen+1, "/p%d") + "\n", "c.yaml:2:9: filesystem.read: the list has 10001 entries; the limit is 10000"},
		{"mapping keys", "run:\n  env: {" + strings.Trim(list(maxListLen+1, "K%d: v"), "[]") + "}\n", "c.yaml:2:8: run.env: the mapping has 10001 keys; the limit is 10000"},
		{"extends", "extends: " + list(maxExtends+1, "service") + "\n", "c.yaml:1:10: extends: the list has 65 entries; the limit is 64"},
		{"depth", "filesystem: {read: " + nested + "}\n", "c.yaml:1:51: filesystem.read[0][0][0][0][0][0][0][0][0][0][0][0]…: nesting is deeper than 32 levels, the limit for one file"},
		{"aliases", aliases, "the file holds more than 100 anchors and aliases, the limit for one file (confine does not expand them)"},
		{"nodes", "a: " + list(maxListLen, "[1,2,3,4,5,6,7,8,9]") + "\n", "c.yaml:1:"},
	}
	for _, tc := range cases {
		got := checkYAML(t, map[string]string{"c.yaml": tc.src}, "c.yaml")
		if !strings.Contains(got, tc.want) || strings.Count(got, "\n") != 0 {
			t.Errorf("%s:\n got: %.300s\nwant: %s (one error)", tc.name, got, tc.want)
		}
	}
	// The stack's files together: two members of 0.9 MiB fit, a third does not.
	pad := "# " + strings.Repeat("x", 900<<10) + "\n"
	files := map[string]string{"s.yaml": "version: 1\nname: s\nsubnet: 192.168.1.0/24\ncomponents: [a.yaml, b.yaml, c.yaml]\n"}
	for _, n := range []string{"a", "b", "c"} {
		files[n+".yaml"] = pad + strings.Replace(base, "name: billing", "name: "+n, 1)
	}
	got := checkYAML(t, files, "s.yaml")
	if want := `s.yaml:4:30: components[2]: cannot read component "c.yaml": the stack's files together hold more than 2097152 bytes (2 MiB), the limit for one stack`; got != want {
		t.Errorf("stack size:\n got: %.300s\nwant: %s", got, want)
	}
	// The node limit, exactly: 1 document + 1 mapping + key + list + maxListLen lists of 9.
	got = checkYAML(t, map[string]string{"c.yaml": "a: " + list(maxListLen, "[1,2,3,4,5,6,7,8,9]") + "\n"}, "c.yaml")
	if !strings.Contains(got, "the file holds more than 100000 YAML values, the limit for one file") {
		t.Errorf("nodes: %.300s", got)
	}
	// Just under each limit, the limit does not speak.
	for _, src := range []string{
		"filesystem:\n  read: " + list(maxListLen, "/p%d") + "\n",
		"extends: " + list(maxExtends, "service") + "\n",
		"x: &a [1]\ny: [" + strings.Repeat("*a, ", maxAliases-2) + "*a]\n",
	} {
		got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
		if strings.Contains(got, "limit") {
			t.Errorf("%.60s: %.300s", src, got)
		}
	}
}

// TestStackMembersConfined: a stack names component files inside its directory only;
// each refusal stands at the stack's components[i] entry and quotes no file's content.
func TestStackMembersConfined(t *testing.T) {
	fsys := fstest.MapFS{
		"s/stack.yaml": {Data: []byte("version: 1\nname: s\nsubnet: 10.9.0.0/24\ncomponents:\n" +
			"  - /etc/shadow\n  - ../secret.yaml\n  - sub/../../secret.yaml\n  - sub\n  - \"\"\n  - a.yaml\n  - sub/../a.yaml\n  - \"a\\u200b.yaml\"\n")},
		"s/a.yaml":      {Data: []byte("version: 1\nname: a\nrun: {command: [/app/a]}\nfilesystem: {read: [/app]}\nsyscalls: {extends: default}\n")},
		"s/sub/x.yaml":  {Data: []byte("x: 1\n")},
		"secret.yaml":   {Data: []byte("root:SECRET-HASH:19000:0:99999:7:::\n")},
		"etc/shadow":    {Data: []byte("root:SECRET-HASH:19000:0:99999:7:::\n")},
		"s/unused.yaml": {Data: []byte("x: 1\n")},
	}
	s, err := LoadStack(fsys, "s/stack.yaml")
	got := fmt.Sprint(err)
	for _, want := range []string{
		`s/stack.yaml:5:5: components[0]: "/etc/shadow" is an absolute path; a component file must lie in the stack file's directory or below it`,
		`s/stack.yaml:6:5: components[1]: "../secret.yaml" leaves the stack file's directory`,
		`s/stack.yaml:7:5: components[2]: "sub/../../secret.yaml" leaves the stack file's directory`,
		`s/stack.yaml:8:5: components[3]: cannot read component "sub": it is a directory, not a regular file`,
		`s/stack.yaml:9:5: components[4]: expected a component file name, found an empty string`,
		`s/stack.yaml:11:5: components[6]: "sub/../a.yaml" holds ".."; name the component file without it ("a.yaml")`,
		`s/stack.yaml:12:5: components[7]: contains an invisible format character (U+200B) at character 2 of "a\u200b.yaml"; expected visible text`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 6 {
		t.Errorf("want 7 errors, one per refused entry:\n%s", got)
	}
	if strings.Contains(got, "SECRET") {
		t.Errorf("a file outside the tree was read:\n%s", got)
	}
	if len(s.Members) != 1 || s.Members[0].File != "s/a.yaml" {
		t.Errorf("members: %+v", s.Members)
	}
}

// TestMessagesQuoteExcerpts puts a 500-character token in each kind of field and checks
// that no error repeats more than 40 characters of it.
func TestMessagesQuoteExcerpts(t *testing.T) {
	tok := strings.Repeat("abcdefghij", 50)
	comp := []string{
		"name: " + tok,
		"version: " + tok,
		"extends: [" + tok + "]",
		"run: {command: [/" + tok + "], user: " + tok + ", workdir: " + tok + ", restart: " + tok + ", depends_on: [" + tok + "], health: {interval: " + tok + "}}",
		"run: {env: {" + tok + ": x}}",
		"filesystem: {read: [/" + tok + ", " + tok + "], write: [/" + tok + "/], tmpfs: [" + tok + "]}",
		"network: {listen: [{port: " + tok + ", from: [" + tok + ", 10.0.0.0/8" + tok + "]}], connect: [{to: " + tok + "}, {to: " + tok + ":80/tcp}, {to: a:" + tok + "/tcp}]}",
		"syscalls: {extends: " + tok + ", on_violation: " + tok + ", allow: [" + tok + ", {names: [read], args: [{index: 0, op: " + tok + ", value: " + tok + ", mask: " + tok + "}], errno: " + tok + "}]}",
		"capabilities: [" + tok + "]",
		"best_effort: [" + tok + "]",
		"resources: {memory: " + tok + ", cpu: " + tok + "}",
		tok + ": 1",
		"x: *" + tok,
		"x: [" + tok,
	}
	stack := []string{
		"version: 1\nname: s\ncomponents: [\"a\\u200b.yaml\"]\n",
		"version: 1\nname: " + tok + "\nsubnet: " + tok + "\ncomponents: [" + tok + ", /" + tok + ", ../" + tok + "]\npublish: [" + tok + ", \"127.0.0.1:80 -> " + tok + ":80/tcp\"]\n",
	}
	for _, src := range append(comp, stack...) {
		got := checkYAML(t, map[string]string{"c.yaml": src + "\n"}, "c.yaml")
		if got == "" {
			t.Errorf("%.80s: no error", src)
		}
		for _, line := range strings.Split(got, "\n") {
			if n := longestRun(line); n > maxExcerpt {
				t.Errorf("%.60s…: an error repeats %d characters of the token:\n%s", src, n, line)
			}
		}
	}
}

// longestRun is the longest run of consecutive characters of the cyclic "abcdefghij" in s.
func longestRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] < 'a' || s[i] > 'j':
			run = 0
		case run > 0 && s[i] == "abcdefghij"[(strings.IndexByte("abcdefghij", s[i-1])+1)%10]:
			run++
		default:
			run = 1
		}
		best = max(best, run)
	}
	return best
}
