package sandbox

import (
	"encoding/json"
	"testing"
)

// TestDecodeRangeAsJSON: the record's fast read gives encoding/json's answer, and its
// error, for what record writes and for what it does not.
func TestDecodeRangeAsJSON(t *testing.T) {
	for _, in := range []string{
		`{"uid":1937899520,"gid":1937899520}` + "\n", `{"uid":0,"gid":7}`, `{"uid":4294967295,"gid":1}`,
		`{"uid":4294967296,"gid":1}`, `{"uid":01,"gid":1}`, `{"uid":-1,"gid":1}`, `{"uid":1.5,"gid":1}`,
		`{"gid":2,"uid":1}`, `{"uid":1,"gid":2,"x":3}`, `{"uid":1,"gid":2}x`, `{"uid":,"gid":2}`, ``, `{"uid":1 ,"gid":2}`,
	} {
		got, gerr := decodeRange([]byte(in))
		var want idRange
		werr := json.Unmarshal([]byte(in), &want)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("%q: %+v, %v; encoding/json %+v, %v", in, got, gerr, want, werr)
		}
	}
}
