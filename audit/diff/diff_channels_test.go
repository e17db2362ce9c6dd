package diff_test

import (
	"testing"

	"github.com/confine-sandbox/confine/audit/diff"
	"github.com/confine-sandbox/confine/policy/plan"
)

// A new unix socket or shared path between components is a grown privilege, on both
// sides; one taken away is a take-away.
func TestDiffChannels(t *testing.T) {
	oldAPI, newAPI := apiComponent(), apiComponent()
	newAPI.Channels = []plan.Channel{
		{Kind: "unix", Peer: "db", Role: "connect", Path: "/run/postgresql/.s.PGSQL.5432", HostPath: "/run/postgresql/.s.PGSQL.5432", Why: "api.yaml:20:13 network.connect[1] unix db:/run/postgresql/.s.PGSQL.5432"},
		{Kind: "share", Peer: "worker", Role: "write", Path: "/srv/spool", HostPath: "/srv/spool", Why: "api.yaml:9:5 filesystem.share[0].with[0] /srv/spool worker"},
	}
	oldPlan := &plan.Plan{Name: "shop", Components: []plan.Component{oldAPI}}
	newPlan := &plan.Plan{Name: "shop", Components: []plan.Component{newAPI}}
	d := diff.Diff(oldPlan, newPlan, nil)
	if !d.Grew() || len(d.Components) != 1 {
		t.Fatalf("a new channel is not a grant: %+v", d)
	}
	var got []diff.PrivilegeChange
	for _, g := range d.Components[0].Grants {
		if g.Kind == diff.ChangeChannel {
			got = append(got, g)
		}
	}
	if len(got) != 2 || got[0].What != "unix db:/run/postgresql/.s.PGSQL.5432" || got[1].What != "share /srv/spool with worker" || got[0].Why == "" {
		t.Errorf("grants: %+v", got)
	}
	back := diff.Diff(newPlan, oldPlan, nil)
	if back.Grew() || back.TakesAway != 2 {
		t.Errorf("removing channels: %+v", back)
	}
	// A share that becomes writable grants again.
	readOnly := apiComponent()
	readOnly.Channels = []plan.Channel{{Kind: "share", Peer: "worker", Role: "read", Path: "/srv/spool", HostPath: "/srv/spool"}}
	if d := diff.Diff(&plan.Plan{Components: []plan.Component{readOnly}}, newPlan, nil); !d.Grew() {
		t.Errorf("read → write share is no grant: %+v", d)
	}
}
