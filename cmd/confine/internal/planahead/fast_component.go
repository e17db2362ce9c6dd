package planahead

// The fast path's decoders of a component's types (fast.go): one for each type of
// policy/plan, a case for each field. TestFastEveryField fails when one is missing.

import "github.com/confine-sandbox/confine/policy/plan"

func decodePlan(v *value, x *plan.Plan) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "version":
			return 0, ints(v, &x.Version)
		case "name":
			return 1, str(v, &x.Name)
		case "single":
			return 2, boolean(v, &x.Single)
		case "components":
			return 3, list(v, &x.Components, decodeComponent)
		case "network":
			return 4, decodeNetwork(v, &x.Network)
		case "start_order":
			return 5, strs(v, &x.StartOrder)
		}
		return 0, false
	})
}

func decodeComponent(v *value, x *plan.Component) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "name":
			return 0, str(v, &x.Name)
		case "source":
			return 1, str(v, &x.Source)
		case "source_hash":
			return 2, str(v, &x.SourceHash)
		case "process":
			return 3, decodeProcess(v, &x.Process)
		case "image":
			return 4, ptr(v, &x.Image, decodeImage)
		case "namespaces":
			return 5, strs(v, &x.Namespaces)
		case "uid_map":
			return 6, list(v, &x.UIDMap, decodeIDMap)
		case "gid_map":
			return 7, list(v, &x.GIDMap, decodeIDMap)
		case "sysctls":
			return 8, list(v, &x.Sysctls, decodeSysctl)
		case "mounts":
			return 9, list(v, &x.Mounts, decodeMount)
		case "masked_paths":
			return 10, strs(v, &x.MaskedPaths)
		case "readonly_paths":
			return 11, strs(v, &x.ReadonlyPaths)
		case "rlimits":
			return 12, list(v, &x.Rlimits, decodeRlimit)
		case "capabilities":
			return 13, decodeCapabilities(v, &x.Capabilities)
		case "landlock":
			return 14, decodeLandlock(v, &x.Landlock)
		case "seccomp":
			return 15, decodeSeccomp(v, &x.Seccomp)
		case "cgroup":
			return 16, decodeCgroup(v, &x.Cgroup)
		case "net":
			return 17, decodeComponentNet(v, &x.Net)
		case "channels":
			return 18, list(v, &x.Channels, decodeChannel)
		case "requires":
			return 19, list(v, &x.Requires, decodeRequirement)
		case "best_effort":
			return 20, strs(v, &x.BestEffort)
		case "supervise":
			return 21, decodeSupervise(v, &x.Supervise)
		case "mode":
			return 22, str(v, &x.Mode)
		case "audit":
			return 23, ptr(v, &x.Audit, decodeAuditMode)
		}
		return 0, false
	})
}

func decodeAuditMode(v *value, x *plan.AuditMode) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "capabilities":
			return 0, decodeCapabilities(v, &x.Capabilities)
		case "observe":
			return 1, strs(v, &x.Observe)
		}
		return 0, false
	})
}

func decodeSupervise(v *value, x *plan.Supervise) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "restart":
			return 0, str(v, &x.Restart)
		case "depends_on":
			return 1, strs(v, &x.DependsOn)
		case "health":
			return 2, ptr(v, &x.Health, decodeHealthCheck)
		}
		return 0, false
	})
}

func decodeHealthCheck(v *value, x *plan.HealthCheck) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "port":
			return 0, uint16s(v, &x.Port)
		case "exec":
			return 1, strs(v, &x.Exec)
		case "interval_ms":
			return 2, int64s(v, &x.IntervalMS)
		case "timeout_ms":
			return 3, int64s(v, &x.TimeoutMS)
		case "retries":
			return 4, ints(v, &x.Retries)
		}
		return 0, false
	})
}

func decodeProcess(v *value, x *plan.Process) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "args":
			return 0, strs(v, &x.Args)
		case "env":
			return 1, strs(v, &x.Env)
		case "cwd":
			return 2, str(v, &x.Cwd)
		case "uid":
			return 3, uint32s(v, &x.UID)
		case "gid":
			return 4, uint32s(v, &x.GID)
		case "user":
			return 5, str(v, &x.User)
		case "group":
			return 6, str(v, &x.Group)
		case "hostname":
			return 7, str(v, &x.Hostname)
		case "rootfs":
			return 8, str(v, &x.Rootfs)
		case "no_new_privs":
			return 9, boolean(v, &x.NoNewPrivs)
		case "groups":
			return 10, strs(v, &x.Groups)
		case "env_from_host":
			return 11, strs(v, &x.EnvFromHost)
		case "env_file":
			return 12, str(v, &x.EnvFile)
		case "deny_exec":
			return 13, boolean(v, &x.DenyExec)
		}
		return 0, false
	})
}

func decodeIDMap(v *value, x *plan.IDMap) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "container_id":
			return 0, uint32s(v, &x.ContainerID)
		case "size":
			return 1, uint32s(v, &x.Size)
		}
		return 0, false
	})
}

func decodeMount(v *value, x *plan.Mount) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "type":
			return 0, str(v, &x.Type)
		case "source":
			return 1, str(v, &x.Source)
		case "target":
			return 2, str(v, &x.Target)
		case "options":
			return 3, strs(v, &x.Options)
		case "idmap":
			return 4, boolean(v, &x.Idmap)
		case "volume":
			return 5, str(v, &x.Volume)
		case "why":
			return 6, str(v, &x.Why)
		case "optional":
			return 7, boolean(v, &x.Optional)
		}
		return 0, false
	})
}

func decodeSysctl(v *value, x *plan.Sysctl) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "key":
			return 0, str(v, &x.Key)
		case "value":
			return 1, str(v, &x.Value)
		case "why":
			return 2, str(v, &x.Why)
		}
		return 0, false
	})
}

func decodeRlimit(v *value, x *plan.Rlimit) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "type":
			return 0, str(v, &x.Type)
		case "soft":
			return 1, uint64s(v, &x.Soft)
		case "hard":
			return 2, uint64s(v, &x.Hard)
		}
		return 0, false
	})
}

func decodeCgroup(v *value, x *plan.Cgroup) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "memory_max":
			return 0, int64s(v, &x.MemoryMax)
		case "pids_max":
			return 1, int64s(v, &x.PidsMax)
		case "cpu_quota":
			return 2, int64s(v, &x.CPUQuota)
		case "cpu_period":
			return 3, int64s(v, &x.CPUPeriod)
		}
		return 0, false
	})
}

func decodeRequirement(v *value, x *plan.Requirement) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "mechanism":
			return 0, str(v, &x.Mechanism)
		case "min_abi":
			return 1, ints(v, &x.MinABI)
		case "why":
			return 2, str(v, &x.Why)
		}
		return 0, false
	})
}

func decodeChannel(v *value, x *plan.Channel) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "kind":
			return 0, str(v, &x.Kind)
		case "peer":
			return 1, str(v, &x.Peer)
		case "role":
			return 2, str(v, &x.Role)
		case "path":
			return 3, str(v, &x.Path)
		case "host_path":
			return 4, str(v, &x.HostPath)
		case "why":
			return 5, str(v, &x.Why)
		}
		return 0, false
	})
}

func decodeImage(v *value, x *plan.Image) bool {
	return object(v, func(k []byte, v *value) (int, bool) {
		switch string(k) {
		case "ref":
			return 0, str(v, &x.Ref)
		case "digest":
			return 1, str(v, &x.Digest)
		case "config_digest":
			return 2, str(v, &x.ConfigDigest)
		case "diff_ids":
			return 3, strs(v, &x.DiffIDs)
		case "defaults":
			return 4, strs(v, &x.Defaults)
		case "exposed_ports":
			return 5, strs(v, &x.ExposedPorts)
		case "volumes":
			return 6, strs(v, &x.Volumes)
		case "user":
			return 7, str(v, &x.User)
		}
		return 0, false
	})
}
