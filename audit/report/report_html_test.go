package report

import (
	"reflect"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/audit/privileges"
)

// TestLayoutDiagram: host first, outside last, callers left of callees; boxes do not
// overlap and stay inside the canvas; side-to-side arrows only between neighbouring
// columns, arcs under the boxes for skips and over them for calls back; and the same
// matrix always gives the same picture.
func TestLayoutDiagram(t *testing.T) {
	r := &Report{StartOrder: []string{"c", "b", "a"}, Matrix: privileges.Matrix{
		Nodes: []string{"a", "b", "c", "host", "outside"},
		Edges: []privileges.Edge{
			{From: "host", To: "a", Ports: []string{"80/tcp"}},
			{From: "a", To: "b", Ports: []string{"9000/tcp"}},
			{From: "b", To: "c", Ports: []string{"5432/tcp"}},
			{From: "a", To: "c", Ports: []string{"5432/tcp", "5433/tcp"}},
			{From: "c", To: "a", Ports: []string{"9/udp"}},
			{From: "outside", To: "b", Ports: []string{"9000/tcp"}},
		}}}
	d := layoutDiagram(r)
	if again := layoutDiagram(r); !reflect.DeepEqual(d, again) {
		t.Fatal("two layouts of the same matrix differ")
	}
	box := map[string]diagramNode{}
	for _, n := range d.Nodes {
		box[n.Name] = n
		if n.X < 0 || n.Y < 0 || n.X+n.W > d.Width || n.Y+n.H > d.Height {
			t.Errorf("%s (%d,%d %dx%d) leaves the %dx%d canvas", n.Name, n.X, n.Y, n.W, n.H, d.Width, d.Height)
		}
		for _, o := range d.Nodes {
			if o.Name != n.Name && n.X < o.X+o.W && o.X < n.X+n.W && n.Y < o.Y+o.H && o.Y < n.Y+n.H {
				t.Errorf("%s and %s overlap", n.Name, o.Name)
			}
		}
	}
	if !(box["host"].X < box["a"].X && box["a"].X < box["b"].X && box["b"].X < box["c"].X && box["c"].X < box["outside"].X) {
		t.Errorf("columns: %+v", d.Nodes)
	}
	if box["host"].Kind != "host" || box["outside"].Kind != "outside" || box["a"].Kind != "component" {
		t.Errorf("kinds: %+v", d.Nodes)
	}
	for _, e := range d.Edges {
		var kind string
		switch {
		case e.LabelY > box[e.From].Y+nodeH:
			kind = "under"
		case e.LabelY < box[e.From].Y:
			kind = "over"
		default:
			kind = "side"
		}
		want := map[string]string{"host>a": "side", "a>b": "side", "b>c": "side", "a>c": "under", "c>a": "over", "outside>b": "over"}[e.From+">"+e.To]
		if kind != want {
			t.Errorf("%s→%s runs %s, want %s (%s)", e.From, e.To, kind, want, e.Path)
		}
		if e.LabelRectX < 0 || e.LabelRectY < 0 || e.LabelRectX+e.LabelW > d.Width || e.LabelRectY+16 > d.Height {
			t.Errorf("%s→%s: label %q leaves the canvas", e.From, e.To, e.Label)
		}
		if !strings.HasPrefix(e.Path, "M") || e.Label == "" {
			t.Errorf("%s→%s: path %q, label %q", e.From, e.To, e.Path, e.Label)
		}
	}
	// Two arcs over the boxes sit at different heights, so their labels do not overlap.
	var overY []int
	for _, e := range d.Edges {
		if e.LabelY < box[e.From].Y {
			overY = append(overY, e.LabelY)
		}
	}
	if len(overY) != 2 || overY[0]-overY[1] < 16 && overY[1]-overY[0] < 16 {
		t.Errorf("labels of the arcs over the boxes at y %v", overY)
	}
}
