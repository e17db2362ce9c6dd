package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"
)

// channelStack is redis serving a socket to api, and api sharing a spool with worker.
func channelStack() map[string]string {
	return map[string]string{
		"s/stack.yaml": "version: 1\nname: s\nsubnet: 10.9.0.0/24\ncomponents: [redis.yaml, api.yaml, worker.yaml]\n",
		"s/redis.yaml": `version: 1
name: redis
run: {command: [/app/redis]}
filesystem: {read: [/app], write: [/run/redis]}
network:
  unix:
    - path: /run/redis/redis.sock
      from: [api]
syscalls: {extends: default}
`,
		"s/api.yaml": `version: 1
name: api
run: {command: [/app/api]}
filesystem:
  read: [/app]
  write: [/srv/spool]
  share: [{path: /srv/spool, with: [worker]}]
network:
  connect:
    - unix: redis:/run/redis/redis.sock
syscalls: {extends: default}
`,
		"s/worker.yaml": `version: 1
name: worker
run: {command: [/app/worker]}
filesystem:
  read: [/app, /srv/spool]
  share: [{path: /srv/spool, with: [api]}]
syscalls: {extends: default}
`,
	}
}

func TestChannelsDeclared(t *testing.T) {
	files := channelStack()
	// api first in the stack: it still starts after the socket's server.
	files["s/stack.yaml"] = strings.Replace(files["s/stack.yaml"], "[redis.yaml, api.yaml,", "[api.yaml, redis.yaml,", 1)
	if got := checkYAML(t, files, "s/stack.yaml"); got != "" {
		t.Fatalf("two-sided channels rejected:\n%s", got)
	}
	fsys := fstest.MapFS{}
	for n, data := range files {
		fsys[n] = &fstest.MapFile{Data: []byte(data)}
	}
	s, err := Open(fsys, "s/stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.StartOrder, " "); got != "redis api worker" {
		t.Errorf("start order %s, want the socket's server first", got)
	}
	api := p.Components[0]
	var bound bool
	for _, m := range api.Mounts {
		if m.Why == "network.connect unix" {
			bound = m.Source == "/run/redis" && m.Target == "/run/redis" && m.Options[0] == "ro" && m.Idmap
		}
	}
	if !bound {
		t.Errorf("api has no read-only bind of /run/redis: %+v", api.Mounts)
	}
	if len(api.Channels) != 2 || api.Channels[0].Kind != "share" || api.Channels[0].Role != "write" || api.Channels[1].Role != "connect" {
		t.Errorf("api channels: %+v", api.Channels)
	}
	if ch := p.Components[1].Channels; len(ch) != 1 || ch[0].Role != "serve" || ch[0].Peer != "api" {
		t.Errorf("redis channels: %+v", ch)
	}
	if ch := p.Components[2].Channels; len(ch) != 1 || ch[0].Role != "read" || ch[0].Peer != "api" {
		t.Errorf("worker channels: %+v", ch)
	}
	for _, m := range p.Components[2].Mounts {
		if m.Why == "network.connect unix" {
			t.Errorf("worker, which declares no socket, sees %s", m.Target)
		}
	}
}

func TestChannelsOneSided(t *testing.T) {
	for _, tc := range []struct {
		file, old, new string
		want           []string
	}{
		{"s/redis.yaml", "from: [api]", "from: [worker]", []string{
			"s/redis.yaml:8:14: network.unix[0].from[0]: redis serves /run/redis/redis.sock to worker, but worker does not connect to unix redis:/run/redis/redis.sock (s/worker.yaml:1:1)",
			"s/api.yaml:10:13: network.connect[0].unix: api connects to unix redis:/run/redis/redis.sock, but redis's network.unix from does not name api (s/redis.yaml:8:13)",
		}},
		{"s/api.yaml", "redis.sock", "other.sock", []string{
			"s/api.yaml:10:13: network.connect[0].unix: api connects to unix redis:/run/redis/other.sock, but redis serves no socket /run/redis/other.sock in network.unix (s/redis.yaml:6:3)",
			"s/redis.yaml:8:14: network.unix[0].from[0]: redis serves /run/redis/redis.sock to api, but api does not connect to unix redis:/run/redis/redis.sock (s/api.yaml:9:3)",
		}},
		{"s/worker.yaml", "with: [api]", "with: [redis]", []string{
			"s/worker.yaml:6:37: filesystem.share[0].with[0]: worker shares /srv/spool with redis, but redis's filesystem.share does not share it with worker (s/redis.yaml:4:13)",
			"s/api.yaml:7:37: filesystem.share[0].with[0]: api shares /srv/spool with worker, but worker's filesystem.share does not share it with api (s/worker.yaml:5:3)",
			"s/worker.yaml:5:16: filesystem.read[1]: worker reads /srv/spool and api writes /srv/spool (s/api.yaml:6:11 filesystem.write[0]): an undeclared channel",
		}},
		// The directory read without the share: the spool, and a parent of it.
		{"s/worker.yaml", "  share: [{path: /srv/spool, with: [api]}]\n", "", []string{
			"s/worker.yaml:5:16: filesystem.read[1]: worker reads /srv/spool and api writes /srv/spool (s/api.yaml:6:11 filesystem.write[0]): an undeclared channel; declare it on both sides with filesystem.share {path: /srv/spool, with: [api]} and {path: /srv/spool, with: [worker]} in s/api.yaml, or serve a socket with network.unix and connect: unix",
		}},
		{"s/worker.yaml", "read: [/app, /srv/spool]\n  share: [{path: /srv/spool, with: [api]}]", "read: [/app, /srv]", []string{
			"s/worker.yaml:5:16: filesystem.read[1]: worker reads /srv and api writes /srv/spool (s/api.yaml:6:11 filesystem.write[0]): an undeclared channel",
		}},
		// Today's hole: a third component that writes the socket's directory.
		{"s/worker.yaml", "read: [/app, /srv/spool]", "read: [/app, /srv/spool]\n  write: [/run]", []string{
			"s/worker.yaml:6:11: filesystem.write[0]: worker writes /run and redis writes /run/redis (s/redis.yaml:4:36 filesystem.write[0]): an undeclared channel",
		}},
		{"s/redis.yaml", "write: [/run/redis]", "write: [/var/lib/redis], tmpfs: [/run]", []string{
			"s/redis.yaml:7:13: network.unix[0].path: /run/redis/redis.sock lies in the tmpfs /run, which is redis's own; a socket its clients reach needs its directory under filesystem.write",
		}},
		{"s/api.yaml", "write: [/srv/spool]", "write: [/srv/spool]\n  tmpfs: [/run]", []string{
			"s/api.yaml:11:13: network.connect[0].unix: the socket's directory /run/redis, which confine binds into api, meets filesystem.tmpfs /run",
		}},
		{"s/api.yaml", "redis:/run", "api:/run", []string{
			"s/api.yaml:10:13: network.connect[0].unix: api names itself; a channel joins two components",
		}},
		{"s/api.yaml", "redis:/run/redis/redis.sock", "redis", []string{
			`s/api.yaml:10:13: network.connect[0].unix: expected COMPONENT:/path/to.sock such as redis:/run/redis/redis.sock, found "redis"`,
		}},
	} {
		files := channelStack()
		if !strings.Contains(files[tc.file], tc.old) {
			t.Fatalf("%s has no %q", tc.file, tc.old)
		}
		files[tc.file] = strings.Replace(files[tc.file], tc.old, tc.new, 1)
		got := checkYAML(t, files, "s/stack.yaml")
		for _, want := range tc.want {
			if !strings.Contains(got, want) {
				t.Errorf("%s %q → %q: missing\n  %s\nin:\n%s", tc.file, tc.old, tc.new, want, got)
			}
		}
	}
}

// meetings must find exactly the pairs a pass over every pair finds: different members,
// one of them writing, one path within the other.
func TestMeetingsMatchPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "c"}
	for round := 0; round < 200; round++ {
		var all []*hostEntry
		for i := 0; i < 12; i++ {
			p := ""
			for d := r.IntN(4); d >= 0; d-- {
				p += "/" + parts[r.IntN(len(parts))]
			}
			if r.IntN(10) == 0 {
				p = "/"
			}
			all = append(all, &hostEntry{member: r.IntN(4), host: p, write: r.IntN(2) == 0, order: i})
		}
		want := map[[2]int]bool{}
		for i, a := range all {
			for j, b := range all {
				if i < j && a.member != b.member && (a.write || b.write) && (within(a.host, b.host) || within(b.host, a.host)) {
					want[[2]int{i, j}] = true
				}
			}
		}
		got := map[[2]int]bool{}
		meetings(all, func(e, y *hostEntry) bool {
			k := [2]int{min(e.order, y.order), max(e.order, y.order)}
			if got[k] {
				t.Errorf("round %d: pair %v met twice", round, k)
			}
			got[k] = true
			return false
		})
		if len(got) != len(want) {
			t.Fatalf("round %d: %d pairs, want %d", round, len(got), len(want))
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("round %d: pair %v (%s, %s) missed", round, k, all[k[0]].host, all[k[1]].host)
			}
		}
	}
}

// TestVolumeIsAChannel: two image components that mount one volume share its files,
// wherever each mounts it: undeclared, check refuses it; declared on both sides, it
// passes. An image run's other write paths are its own upper, never shared.
func TestVolumeIsAChannel(t *testing.T) {
	comp := func(name, peer, target, share string) string {
		return "version: 1\nname: " + name + "\nrun:\n  image: reg.example/app:1\n  command: [/app]\n" +
			"filesystem:\n  write: [{path: " + target + ", volume: spool}, /scratch]\n" + share +
			"syscalls: {extends: default}\n"
	}
	files := map[string]string{
		"s/stack.yaml": "version: 1\nname: s\nsubnet: 10.9.0.0/24\ncomponents: [a.yaml, b.yaml]\n",
		"s/a.yaml":     comp("a", "b", "/var/spool", ""),
		"s/b.yaml":     comp("b", "a", "/data", ""),
	}
	got := checkYAML(t, files, "s/stack.yaml")
	if !strings.Contains(got, "b writes") || !strings.Contains(got, "an undeclared channel") || strings.Contains(got, "/scratch") {
		t.Errorf("a volume mounted by two components, undeclared:\n%s", got)
	}
	files["s/a.yaml"] = comp("a", "b", "/var/spool", "  share: [{path: /var/spool, with: [b]}]\n")
	files["s/b.yaml"] = comp("b", "a", "/data", "  share: [{path: /data, with: [a]}]\n")
	if got := checkYAML(t, files, "s/stack.yaml"); got != "" {
		t.Errorf("a volume shared on both sides:\n%s", got)
	}
}
