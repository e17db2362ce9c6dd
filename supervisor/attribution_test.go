package supervisor

import (
	"testing"

	"github.com/confine-sandbox/confine/sandbox"
)

// TestOwners: a host id names the component whose range holds it, by uid first, then
// by gid; ids outside every range, and absent ones, name none.
func TestOwners(t *testing.T) {
	var o Owners
	o.Add("api", 0x70000000, 0x70000000)
	o.Add("db", 0x70010000, 0x70010000)
	o.Add("db", 0x70010000, 0x70010000) // a restart adds nothing
	for _, c := range []struct {
		uid, gid int64
		want     string
	}{
		{0x70000000, 0x70000000, "api"},
		{0x70000000 + sandbox.RangeSize - 1, -1, "api"},
		{0x70000000 + sandbox.RangeSize, -1, "db"},
		{-1, 0x70010000 + 1000, "db"},
		{0x70020000, -1, ""},
		{0, 0, ""},
		{-1, -1, ""},
	} {
		if got := o.Of(c.uid, c.gid); got != c.want {
			t.Errorf("Of(%#x, %#x) = %q, want %q", c.uid, c.gid, got, c.want)
		}
	}
	if len(o.uids) != 2 {
		t.Errorf("%d uid ranges, want 2", len(o.uids))
	}
}
