package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// maxStackName is the longest stack name policy validation accepts (policy.validName).
const maxStackName = 32

// idRecords is where root's confine records the components' host id ranges, one file
// per STACK.COMPONENT (sandbox/ids_linux.go); they outlive the stack on purpose.
const idRecords = "/var/lib/confine/ids"

// Suffix is this test process's own, random: other copies of the suites (developers,
// CI jobs, helpers) run on the same host at the same time, and stack names, like the
// state, namespace and id records named after them, are host-wide.
var Suffix = func() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}()

// StackName is base made this process's own: base-SUFFIX, base cut short so the whole
// stays within the stack-name limit. The host objects named after a stack (its state
// directory, pinned namespace, uplink table confine_up_NAME, id records) take it whole.
func StackName(base string) string {
	if n := maxStackName - len(Suffix) - 1; len(base) > n {
		base = strings.TrimRight(base[:n], "-")
	}
	return base + "-" + Suffix
}

// ForgetStacks removes the id records of this process's stacks (StackName's), which
// confine keeps after down; without it every run of the suites would take ranges of the
// host's reservation for good. For a TestMain, once its tests are done.
func ForgetStacks() {
	if os.Geteuid() != 0 {
		return
	}
	records, _ := filepath.Glob(filepath.Join(idRecords, "*-"+Suffix+".*"))
	for _, r := range records {
		os.Remove(r)
	}
}
