package export

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/confine-sandbox/confine/policy/plan"
)

func TestOCISeccompConditions(t *testing.T) {
	s := &plan.Seccomp{Arch: "amd64", DefaultAction: "errno", DefaultErrno: 1, Rules: []plan.SeccompRule{
		{Syscalls: []string{"read", "write"}, Action: "allow"},
		{Syscalls: []string{"socket"}, Action: "errno", Errno: 13, Args: []plan.SeccompArg{
			{Index: 0, Op: "masked_eq", Value: 2, Mask: 0xffffffff}, {Index: 1, Op: "masked_eq", Value: 3, Mask: 0xf}}},
		{Syscalls: []string{"personality"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 8}}},
	}}
	out, err := ociSeccomp(s)
	if err != nil {
		t.Fatal(err)
	}
	if out.DefaultAction != specs.ActErrno || *out.DefaultErrnoRet != 1 || out.Architectures[0] != specs.ArchX86_64 {
		t.Errorf("defaults %+v", out)
	}
	if len(out.Syscalls) != 3 {
		t.Fatalf("%d entries, want one per rule", len(out.Syscalls))
	}
	sock := out.Syscalls[1]
	if *sock.ErrnoRet != 13 || len(sock.Args) != 2 || sock.Args[0].Value != 0xffffffff || sock.Args[0].ValueTwo != 2 ||
		sock.Args[1].Index != 1 || sock.Args[1].Op != specs.OpMaskedEqual {
		t.Errorf("socket entry %+v: masked_eq must be (mask, datum) over distinct indices", sock)
	}
	if a := out.Syscalls[2].Args[0]; a.Op != specs.OpEqualTo || a.Value != 8 || a.ValueTwo != 0 {
		t.Errorf("personality %+v", a)
	}
	// A repeated index would be OR'ed by runc: refused, not exported wrong.
	s.Rules[1].Args[1].Index = 0
	if _, err := ociSeccomp(s); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("repeated index: %v", err)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/x": "/bin/x", "a b": `"a b"`, `say "hi"`: `"say \"hi\""`, "100%": "100%%", "$HOME": "$$HOME", "": `""`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := quoteEnv("A=$x"); got != "A=$x" {
		t.Errorf("quoteEnv: %s", got)
	}
}
