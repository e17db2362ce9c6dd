//go:build cgo

package progcache

// os/user's lookups through libc link this test binary dynamically when cgo is on, so
// that TestStaticThroughInterpreter can start it through ld.so (CGO_ENABLED=0 keeps it
// static, for TestStatic's static path).
import "os/user"

var _ = user.Current
