package sandbox

import "strconv"

// noID is audit's (uid_t)-1, which the kernel writes for an id that is not set (an
// auid outside any login session, say): no id at all.
const noID = 4294967295

// hostID reads a uid= or gid= field, written as from_kuid(&init_user_ns, ...): the id
// in the host's user namespace, whatever namespace the process is in. -1 when absent.
func hostID(s string) int64 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == noID {
		return -1
	}
	return int64(n)
}

// learn keeps the ids of a domain's processes: the creator's uid from its allocation
// record, or the ids of a SYSCALL record of one of its events. Every process of a
// domain is a descendant of its creator within one component, so any of them names
// the component for the domain's records that arrive without a SYSCALL record.
func (d *domain) learn(uid, gid int64) {
	if uid >= 0 && d.uid < 0 {
		d.uid = uid
	}
	if gid >= 0 && d.gid < 0 {
		d.gid = gid
	}
}
