package policy

import (
	"fmt"
	"net/netip"
	"path"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Default identity and limits when a policy does not set them: deny by default means an
// unprivileged user and a bounded descriptor table.
const (
	defaultUID, defaultGID = 65534, 65534
	defaultNofile          = 1024
	defaultErrno           = 1 // EPERM
)

// Compile validates s and turns it into a Plan. It is pure and deterministic: the same
// files give byte-identical JSON, on any host; nothing about the host is consulted. A
// component with run.image needs CompileWith.
func Compile(s *Stack) (*plan.Plan, error) { return CompileWith(s, nil) }

// compile is Compile of a validated stack, with its members' effective policies and
// their resolved images.
func compile(s *Stack, effective map[string]*Component, images map[string]*ImageFacts, programs ProgramStore) (*plan.Plan, error) {
	p := &plan.Plan{Version: plan.Version, Name: s.Name, Single: s.IsSingle()}
	addrs, net := assignAddresses(s)
	cache := newSeccompCache(programs)
	for _, c := range s.Members {
		eff, img := effective[c.Name], images[c.Name]
		var defaults []string
		if img != nil {
			var errs ErrorList
			if defaults, errs = withImageDefaults(eff, img); len(errs) > 0 {
				return nil, errs
			}
		}
		cp, err := compileComponent(eff, addrs, cache)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.File, err)
		}
		if img != nil {
			compileImage(eff, cp, img, defaults)
		} else {
			compileVolumes(eff, cp)
		}
		p.Components = append(p.Components, *cp)
	}
	p.Network = net
	compileChannels(p, s, effective)
	p.StartOrder = compileStartOrder(s)
	if !s.IsSingle() {
		compileStackFirewall(p, s, effective, addrs)
		compileUplink(p, s, addrs)
	} else {
		compileLoneUplink(p)
	}
	return p, nil
}

// assignAddresses gives the bridge the subnet's first host address and each component
// the next ones, in the order the stack lists them.
func assignAddresses(s *Stack) (map[string]netip.Addr, plan.Network) {
	addrs := map[string]netip.Addr{}
	if s.IsSingle() {
		return addrs, plan.Network{}
	}
	prefix, _ := stackSubnet(s.Subnet, len(s.Members))
	a := prefix.Addr().Next()
	n := plan.Network{Subnet: prefix.String(), BridgeAddress: a.String()}
	addrs[HostPeer] = a // connect: host:PORT reaches the bridge, DNAT'd to the uplink's gateway
	for _, c := range s.Members {
		a = a.Next()
		addrs[c.Name] = a
	}
	return addrs, n
}

func compileComponent(c *Component, addrs map[string]netip.Addr, cache *seccompCache) (*plan.Component, error) {
	uid, gid := uint32(defaultUID), uint32(defaultGID)
	var user User
	if c.Run.User != "" {
		user = c.Run.user.v
		uid, gid = user.UID, user.GID
	}
	cp := &plan.Component{
		Name:       c.Name,
		Source:     c.File,
		SourceHash: c.Source,
		Process: plan.Process{
			Args:       c.Run.Command,
			Env:        sortedEnv(c.Run.Env),
			Cwd:        or(c.Run.Workdir, "/"),
			UID:        uid,
			GID:        gid,
			User:       user.Name,
			Group:      user.Group,
			Hostname:   or(c.Run.Hostname, c.Name),
			NoNewPrivs: true,
			DenyExec:   c.Run.Exec != nil && !*c.Run.Exec,
		},
		Namespaces: []string{"cgroup", "ipc", "mount", "net", "pid", "user", "uts"},
		BestEffort: sorted(c.BestEffort),
	}
	if c.Run.Rootfs != "" {
		cp.Process.Rootfs = c.Run.Rootfs
		if !path.IsAbs(c.Run.Rootfs) {
			cp.Process.Rootfs = path.Join(path.Dir(c.File), c.Run.Rootfs)
		}
	}
	cp.Process.EnvFromHost, cp.Process.EnvFile = c.Run.EnvFromHost, c.Run.envFileAbs
	compileIDs(c, cp)
	compileMounts(c, cp)
	compileCapabilities(c, cp)
	compileResources(c, cp)
	compileLandlock(c, cp)
	if err := compileSeccomp(c, cp, cache); err != nil {
		return nil, err
	}
	compileComponentNet(c, cp, addrs)
	compileSupervise(c, cp)
	cp.Requires = append(cp.Requires,
		plan.Requirement{Mechanism: "userns", Why: "every component runs in its own user namespace"},
		plan.Requirement{Mechanism: "seccomp", Why: "syscall filter (seccomp.default_action " + cp.Seccomp.DefaultAction + ")"},
		plan.Requirement{Mechanism: "nftables", Why: "default-drop firewall in the component's network namespace"})
	if cp.Cgroup != (plan.Cgroup{}) {
		cp.Requires = append(cp.Requires, plan.Requirement{Mechanism: "cgroups", Why: "resources: memory, pids and cpu limits"})
	}
	compileAudit(c, cp)
	sort.SliceStable(cp.Requires, func(i, j int) bool { return cp.Requires[i].Mechanism < cp.Requires[j].Mechanism })
	return cp, nil
}

func sortedEnv(env map[string]string) []string {
	out := []string{}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}
