package report_test

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/audit/report"
	"github.com/confine-sandbox/confine/policy"
)

// TestAuditModeScoreCompiled compiles the shop's api three ways, as declared, with
// mode: audit, and with no sandbox mechanism it may do without (seccomp log, best_effort
// landlock and nftables): the audit-mode one scores highest.
func TestAuditModeScoreCompiled(t *testing.T) {
	src, err := os.ReadFile("../../examples/shop/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]string{
		"enforce": string(src),
		"audit":   string(src) + "mode: audit\n",
		"bare": strings.Replace(string(src), "on_violation: errno", "on_violation: log", 1) +
			"best_effort: [landlock, nftables]\n",
	}
	scores := map[string]float64{}
	for name, text := range variants {
		s, err := policy.Open(fstest.MapFS{"api.yaml": {Data: []byte(text)}}, "api.yaml")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := policy.Compile(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := report.BuildReport(report.ReportInput{Plan: p, Baseline: baseline(t), Generated: reportTime})
		scores[name] = r.Components[0].Exposure.Score
	}
	t.Logf("scores %v", scores)
	if !(scores["audit"] > scores["enforce"] && scores["audit"] >= scores["bare"]) {
		t.Errorf("scores %v: want audit above enforce and at least bare", scores)
	}
}
