package diff_test

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

// update is -update: rewrite the golden files under testdata (go test ./audit/diff -update;
// review the diff).
var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with file, or rewrites file under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./audit/diff -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; run go test ./audit/diff -update and review the diff; got:\n%s", file, got)
	}
}
