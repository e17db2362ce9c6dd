package privileges

import (
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestLonePrivileges: a lone component's `host` flows (its uplink's gateway) are among
// its listeners' callers and its reaches; the resolver's own flow is not a reach.
func TestLonePrivileges(t *testing.T) {
	c := &plan.Component{Name: "app", Net: plan.ComponentNet{
		Listen: []plan.Port{{Proto: "tcp", First: 80, Last: 80}},
		Gateway: []plan.Flow{
			{Set: "ingress", Proto: "tcp", First: 80, Last: 80, Why: "app.yaml:9:14 network.listen[0].from[0] host"},
			{Set: "egress", Src: "0.0.0.0/0", Proto: "tcp", First: 9000, Last: 9000, Why: "app.yaml:6:11 network.connect[0] host:9000/tcp"},
			{Set: "egress", Src: "0.0.0.0/0", Proto: "udp", First: 53, Last: 53, Why: plan.ResolverWhy},
		},
	}}
	listen, reaches := flows(c, nil)
	if len(listen) != 1 || len(listen[0].From) != 1 || listen[0].From[0].Name != "host" {
		t.Errorf("listeners %+v, want 80/tcp from host", listen)
	}
	if len(reaches) != 1 || reaches[0].Peer != "host" || reaches[0].Port != "9000/tcp" || reaches[0].Outside {
		t.Errorf("reaches %+v, want host on 9000/tcp only", reaches)
	}
}
