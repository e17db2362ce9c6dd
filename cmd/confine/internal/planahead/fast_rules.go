package planahead

// The fast path's decoders of the enforcement's rules: capabilities, Landlock, seccomp (fast.go).

import "github.com/confine-sandbox/confine/policy/plan"

func decodeCapabilities(v *value, x *plan.Capabilities) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "bounding":
			return 0, strs(v, &x.Bounding)
		case "permitted":
			return 1, strs(v, &x.Permitted)
		case "effective":
			return 2, strs(v, &x.Effective)
		case "inheritable":
			return 3, strs(v, &x.Inheritable)
		case "ambient":
			return 4, strs(v, &x.Ambient)
		}
		return 0, false
	})
}

func decodeLandlock(v *value, x *plan.Landlock) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "handled_fs":
			return 0, strs(v, &x.HandledFS)
		case "handled_net":
			return 1, strs(v, &x.HandledNet)
		case "paths":
			return 2, list(v, &x.Paths, decodePathRule)
		case "bind_tcp":
			return 3, list(v, &x.BindTCP, uint16s)
		case "connect_tcp":
			return 4, list(v, &x.ConnectTCP, uint16s)
		case "scoped":
			return 5, strs(v, &x.Scoped)
		case "notes":
			return 6, strs(v, &x.Notes)
		}
		return 0, false
	})
}

func decodePathRule(v *value, x *plan.PathRule) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "path":
			return 0, str(v, &x.Path)
		case "access":
			return 1, strs(v, &x.Access)
		case "why":
			return 2, str(v, &x.Why)
		}
		return 0, false
	})
}

func decodeSeccomp(v *value, x *plan.Seccomp) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "arch":
			return 0, str(v, &x.Arch)
		case "default_action":
			return 1, str(v, &x.DefaultAction)
		case "default_errno":
			return 2, ints(v, &x.DefaultErrno)
		case "rules":
			return 3, list(v, &x.Rules, decodeSeccompRule)
		case "denies":
			return 4, list(v, &x.Denies, decodeSeccompDeny)
		case "program":
			return 5, base64Bytes(v, &x.Program)
		case "program_sha256":
			return 6, str(v, &x.ProgramSHA256)
		}
		return 0, false
	})
}

func decodeSeccompRule(v *value, x *plan.SeccompRule) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "syscalls":
			return 0, strs(v, &x.Syscalls)
		case "action":
			return 1, str(v, &x.Action)
		case "errno":
			return 2, ints(v, &x.Errno)
		case "args":
			return 3, list(v, &x.Args, decodeSeccompArg)
		}
		return 0, false
	})
}

func decodeSeccompDeny(v *value, x *plan.SeccompDeny) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "syscall":
			return 0, str(v, &x.Syscall)
		case "why":
			return 1, str(v, &x.Why)
		case "args":
			return 2, boolean(v, &x.Args)
		}
		return 0, false
	})
}

func decodeSeccompArg(v *value, x *plan.SeccompArg) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "index":
			return 0, uints(v, &x.Index)
		case "op":
			return 1, str(v, &x.Op)
		case "value":
			return 2, uint64s(v, &x.Value)
		case "mask":
			return 3, uint64s(v, &x.Mask)
		}
		return 0, false
	})
}
