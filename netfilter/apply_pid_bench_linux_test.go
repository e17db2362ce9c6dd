package netfilter

import (
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// BenchmarkApplyNewPidLone is BenchmarkApplyNewLone through ApplyNewPid, as the load
// ahead does it now: the namespace joined by a pidfd.
func BenchmarkApplyNewPidLone(b *testing.B) {
	testenv.Require(b, testenv.Root)
	benchLoad(b, func(pid int) error { return ApplyNewPid(pid, loneFirewall) })
}
