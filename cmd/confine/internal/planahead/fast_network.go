package planahead

// The fast path's decoders of the network's types (fast.go).

import "github.com/confine-sandbox/confine/policy/plan"

func decodeComponentNet(v *value, x *plan.ComponentNet) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "address":
			return 0, str(v, &x.Address)
		case "hosts":
			return 1, list(v, &x.Hosts, decodeHostEntry)
		case "listen":
			return 2, list(v, &x.Listen, decodePort)
		case "firewall":
			return 3, decodeFirewall(v, &x.Firewall)
		case "names":
			return 4, list(v, &x.Names, decodeNameFlow)
		case "gateway":
			return 5, list(v, &x.Gateway, decodeFlow)
		case "unresolved":
			return 6, strs(v, &x.Unresolved)
		}
		return 0, false
	})
}

func decodeHostEntry(v *value, x *plan.HostEntry) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "name":
			return 0, str(v, &x.Name)
		case "address":
			return 1, str(v, &x.Address)
		}
		return 0, false
	})
}

func decodePort(v *value, x *plan.Port) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "proto":
			return 0, str(v, &x.Proto)
		case "first":
			return 1, uint16s(v, &x.First)
		case "last":
			return 2, uint16s(v, &x.Last)
		}
		return 0, false
	})
}

func decodeNetwork(v *value, x *plan.Network) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "subnet":
			return 0, str(v, &x.Subnet)
		case "bridge_address":
			return 1, str(v, &x.BridgeAddress)
		case "firewall":
			return 2, decodeFirewall(v, &x.Firewall)
		case "published":
			return 3, list(v, &x.Published, decodePublish)
		case "uplink":
			return 4, ptr(v, &x.Uplink, decodeUplink)
		}
		return 0, false
	})
}

func decodePublish(v *value, x *plan.Publish) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "host_address":
			return 0, str(v, &x.HostAddress)
		case "host_port":
			return 1, uint16s(v, &x.HostPort)
		case "component":
			return 2, str(v, &x.Component)
		case "address":
			return 3, str(v, &x.Address)
		case "port":
			return 4, uint16s(v, &x.Port)
		case "proto":
			return 5, str(v, &x.Proto)
		case "kernel":
			return 6, boolean(v, &x.Kernel)
		}
		return 0, false
	})
}

func decodeFirewall(v *value, x *plan.Firewall) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "family":
			return 0, str(v, &x.Family)
		case "table":
			return 1, str(v, &x.Table)
		case "chains":
			return 2, list(v, &x.Chains, decodeChain)
		case "flows":
			return 3, list(v, &x.Flows, decodeFlow)
		case "log_group":
			return 4, uint16s(v, &x.LogGroup)
		case "audit":
			return 5, boolean(v, &x.Audit)
		case "audit_addrs":
			return 6, strs(v, &x.AuditAddrs)
		}
		return 0, false
	})
}

func decodeChain(v *value, x *plan.Chain) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "name":
			return 0, str(v, &x.Name)
		case "hook":
			return 1, str(v, &x.Hook)
		case "accept_loopback":
			return 2, boolean(v, &x.AcceptLoopback)
		case "flows_set":
			return 3, str(v, &x.FlowsSet)
		case "names_set":
			return 4, str(v, &x.NamesSet)
		}
		return 0, false
	})
}

func decodeFlow(v *value, x *plan.Flow) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "set":
			return 0, str(v, &x.Set)
		case "src":
			return 1, str(v, &x.Src)
		case "dst":
			return 2, str(v, &x.Dst)
		case "proto":
			return 3, str(v, &x.Proto)
		case "first":
			return 4, uint16s(v, &x.First)
		case "last":
			return 5, uint16s(v, &x.Last)
		case "why":
			return 6, str(v, &x.Why)
		}
		return 0, false
	})
}

func decodeUplink(v *value, x *plan.Uplink) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "outside":
			return 0, list(v, &x.Outside, decodeFlow)
		case "host":
			return 1, list(v, &x.Host, decodeFlow)
		case "names":
			return 2, list(v, &x.Names, decodeNameFlow)
		}
		return 0, false
	})
}

func decodeNameFlow(v *value, x *plan.NameFlow) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "name":
			return 0, str(v, &x.Name)
		case "src":
			return 1, str(v, &x.Src)
		case "proto":
			return 2, str(v, &x.Proto)
		case "first":
			return 3, uint16s(v, &x.First)
		case "last":
			return 4, uint16s(v, &x.Last)
		case "why":
			return 5, str(v, &x.Why)
		}
		return 0, false
	})
}
