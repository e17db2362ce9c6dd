package diff_test

import (
	"testing"

	goldenfile "github.com/confine-sandbox/confine/internal/golden"
)

// golden compares got with file under testdata, or rewrites it under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	goldenfile.Check(t, "audit/diff", file, got)
}
