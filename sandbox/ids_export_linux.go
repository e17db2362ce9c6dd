package sandbox

import "os"

// HostIDRange is the first host uid and gid of the range that Start maps the component
// onto (each RangeSize ids), recording one on the component's first start, so that a
// reader of the kernel's audit log can name the component of a record before the
// component runs. stack is "" for a lone run, whose range this process leases for its
// life (leaseFor). Without root there is no range: ok is
// false, and the component runs as the invoking user, whose uid others share.
func HostIDRange(stack, component string) (uid, gid uint32, ok bool, err error) {
	if os.Geteuid() != 0 {
		return 0, 0, false, nil
	}
	r, err := hostIDs.rangeFor(stack, component)
	if err != nil {
		return 0, 0, false, err
	}
	return r.UID, r.GID, true, nil
}
