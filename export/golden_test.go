package export

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// loadPlan reads a Plan that policy's golden tests compiled (a copy of
// policy/testdata/shop.plan.json, so this package's tests need neither cgo nor policy).
func loadPlan(t *testing.T, name string) *plan.Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var p plan.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func exportShop(t *testing.T, format string) *Result {
	t.Helper()
	r, err := Export(withVolume(loadPlan(t, "shop.plan.json")), format, Options{BaseDir: "/src"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGolden holds every format's files, findings included, byte for byte
// (go test ./export -update rewrites them; review the diff).
func TestGolden(t *testing.T) {
	for _, format := range Formats {
		r := exportShop(t, format)
		var b bytes.Buffer
		for _, f := range r.Files {
			if f.Dir {
				b.WriteString("# dir: " + f.Path + "\n")
				continue
			}
			b.WriteString("# file: " + f.Path + "\n")
			b.Write(f.Data)
		}
		fs, _ := json.MarshalIndent(r.Findings, "", "  ")
		b.WriteString("# findings\n")
		b.Write(fs)
		b.WriteString("\n")
		golden := filepath.Join("testdata", "shop."+format+".golden")
		if *update {
			if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./export -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from %s; run go test ./export -update and review the diff", format, golden)
		}
		// Deterministic: a second export gives the same bytes.
		again := exportShop(t, format)
		for i := range r.Files {
			if !bytes.Equal(r.Files[i].Data, again.Files[i].Data) {
				t.Errorf("%s: %s differs between two exports", format, r.Files[i].Path)
			}
		}
	}
}

// TestFindingsNamed: what the issue lists as beyond each target is a finding there.
func TestFindingsNamed(t *testing.T) {
	want := map[string][]string{
		"k8s":     {"landlock", "audit", "pids", "rlimits", "image", "publish"},
		"oci":     {"landlock", "audit", "flows"},
		"systemd": {"landlock", "audit", "flows", "seccomp_args"},
	}
	for format, mechs := range want {
		r := exportShop(t, format)
		have := map[string]bool{}
		for _, f := range r.Findings {
			have[f.Mechanism] = true
			if f.Target != format {
				t.Errorf("%s: finding %v names target %s", format, f, f.Target)
			}
		}
		for _, m := range mechs {
			if !have[m] {
				t.Errorf("%s: no %s finding among %v", format, m, r.Findings)
			}
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := Export(loadPlan(t, "shop.plan.json"), "docker", Options{}); err == nil {
		t.Fatal("format docker accepted")
	}
}

func TestAuditModeIsNotExported(t *testing.T) {
	p := loadPlan(t, "shop.plan.json")
	p.Components[0].Mode = plan.ModeAudit
	for _, format := range Formats {
		if _, err := Export(p, format, Options{}); err == nil || !strings.Contains(err.Error(), "mode: audit") {
			t.Errorf("%s: %v", format, err)
		}
	}
}
