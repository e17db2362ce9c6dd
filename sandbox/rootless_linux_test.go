package sandbox

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

func TestMapAround(t *testing.T) {
	type m = syscall.SysProcIDMap
	cases := []struct {
		own  uint32
		want []m
	}{
		{0, []m{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65535}}},
		{33, []m{{ContainerID: 0, HostID: 100000, Size: 33}, {ContainerID: 33, HostID: 1000, Size: 1}, {ContainerID: 34, HostID: 100033, Size: 65502}}},
		{65535, []m{{ContainerID: 0, HostID: 100000, Size: 65535}, {ContainerID: 65535, HostID: 1000, Size: 1}}},
	}
	for _, tc := range cases {
		got := mapAround(tc.own, 1000, 100000)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("own %d: %+v, want %+v", tc.own, got, tc.want)
		}
		total := 0
		for _, e := range got {
			total += e.Size
		}
		if total != RangeSize {
			t.Errorf("own %d: %d ids mapped, want %d", tc.own, total, RangeSize)
		}
	}
}

func TestSubRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(path, []byte("alice:100000:1024\n1001:300000:65536\nbob:200000:65536\n"), 0o644)
	if start, err := subRange(path, []string{"1000", "bob"}); err != nil || start != 200000 {
		t.Errorf("bob: %d, %v; want 200000", start, err)
	}
	if start, err := subRange(path, []string{"1001", "carol"}); err != nil || start != 300000 {
		t.Errorf("by uid: %d, %v; want 300000", start, err)
	}
	// 1,024 ids are too few (podman#17120): no range, and the message says what to add.
	if _, err := subRange(path, []string{"999", "alice"}); err == nil || !strings.Contains(err.Error(), "add alice:START:65536") {
		t.Errorf("alice: %v, want an error naming the entry to add", err)
	}
}

// TestRootlessIDsOutsideRange: a Plan whose user lies outside 0-65535 (a hand-edited
// --plan file) gets no subordinate map, which newuidmap would widen, but the one id.
func TestRootlessIDsOutsideRange(t *testing.T) {
	c := &plan.Component{Name: "web", Process: plan.Process{UID: 70000, GID: 0}}
	m, notice := rootlessIDs(c)
	if m != nil || notice == nil || !strings.Contains(notice.Detail, "outside the component's ids") {
		t.Errorf("maps %+v, notice %+v", m, notice)
	}
}
