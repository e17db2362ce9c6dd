// Package golden compares a test's output with a file under testdata, or rewrites the file
// under -update, for the packages whose tests are golden files (audit/report, audit/diff,
// learn). Review the rewritten files' diff before committing them.
package golden

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Check compares got with file, or rewrites file under -update; pkg names the package in
// the hint (go test ./PKG -update).
func Check(t testing.TB, pkg, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./%s -update writes it)", err, pkg)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; run go test ./%s -update and review the diff; got:\n%s", file, pkg, got)
	}
}
