package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Details keys of the denial records that say how to read one.
const (
	// DetailCount is how many refusals the record stands for, 1 or more: the
	// retransmissions of one refused TCP connection are one denial.
	DetailCount = "count"
	// DetailExpected is true for a denial that confine's own profiles cause by design
	// (Classify): recorded, and grouped apart in the report, not hidden.
	DetailExpected = "expected"
	// DetailEnforced is false when the kernel let the call through and only logged it
	// (seccomp on_violation: log).
	DetailEnforced = "enforced"
)

// Classify completes a denial's details: count 1 unless set, whether it was enforced,
// and whether it is expected. Expected are the refusals the built-in profiles make so
// that programs fall back to what the sandbox can check: clone3 (its flags are in
// memory, where seccomp cannot look; glibc and Go then use clone), socket with
// IPPROTO_MPTCP (Landlock's TCP rules do not cover MPTCP; Go since 1.24 then uses
// TCP), and a bind of TCP port 0 on a loopback address, as the Go runtime's probe of
// the IPv4/IPv6 stack does. Their reason says so.
func (a *Attributor) Classify(d map[string]any) {
	if _, ok := d[DetailCount]; !ok {
		d[DetailCount] = 1
	}
	if _, set := d[DetailEnforced]; !set { // audit mode's observations come with false
		d[DetailEnforced] = !(d[DetailLayer] == LayerSeccomp && d["action"] == "log")
	}
	why := expectedWhy(d)
	d[DetailExpected] = why != ""
	if why != "" {
		d[DetailReason] = fmt.Sprintf("%v; expected: %s", d[DetailReason], why)
	}
}

// expectedWhy says why a denial is expected noise, or "" when it is not.
func expectedWhy(d map[string]any) string {
	switch d[DetailLayer] {
	case LayerSeccomp:
		rule, _ := d[DetailRule].(string)
		if d[DetailDecidedBy] != "rule" || !fromProfiles(rule) {
			return ""
		}
		switch d["syscall"] {
		case "clone3":
			return "the built-in profile refuses clone3 with ENOSYS, whose flags seccomp cannot read, so that glibc and Go fall back to clone"
		case "socket":
			return "the built-in profile refuses MPTCP sockets with EPROTONOSUPPORT, which Landlock's TCP rules would not cover, so that the program falls back to TCP"
		}
	case LayerLandlock:
		blockers, _ := d["blockers"].([]string)
		_, port := d["dport"]
		addr, _ := d["saddr"].(string)
		if slices.Contains(blockers, "net.bind_tcp") && !port && isLoopback(addr) {
			return "a bind of port 0 on loopback is how the Go runtime probes for IPv4 and IPv6; it falls back whatever the answer"
		}
	case LayerNetwork: // audit mode's observed bind (supervisor/observed.go)
		dst, _ := d["dst"].(string)
		if d["direction"] == "bind" && d["dport"] == 0 && isLoopback(dst) {
			return "a bind of port 0 on loopback is how the Go runtime probes for IPv4 and IPv6; it falls back whatever the answer"
		}
	}
	return ""
}

// fromProfiles reports whether every rule in a "; "-joined list is a built-in profile's.
func fromProfiles(rules string) bool {
	if rules == "" {
		return false
	}
	for _, r := range strings.Split(rules, "; ") {
		if !strings.HasPrefix(r, "profiles/") {
			return false
		}
	}
	return true
}

// isLoopback reports whether addr is a loopback address (audit/report has its own for scoring).
func isLoopback(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsLoopback()
}
