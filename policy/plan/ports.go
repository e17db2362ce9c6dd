package plan

import "strconv"

// PortString writes a port range as policies do: "5432/tcp", "5000-5010/udp". Explain,
// reports and diffs all use it, so a range reads the same everywhere.
func PortString(proto string, first, last uint16) string {
	s := strconv.Itoa(int(first))
	if first != last {
		s += "-" + strconv.Itoa(int(last))
	}
	return s + "/" + proto
}

// String is p as policies write it.
func (p Port) String() string { return PortString(p.Proto, p.First, p.Last) }
