package planahead

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

// TestBoundRefusesEmptyLists: lists of elements that cost memory and hold nothing are
// refused before a decode makes them.
func TestBoundRefusesEmptyLists(t *testing.T) {
	for name, in := range map[string]string{
		"empty components":              `{"components": [` + strings.Repeat("{},", 170000) + `{}]}`,
		"wrong elements":                `{"components": [` + strings.Repeat("0,", 170000) + `0]}`,
		"empty mounts in one component": `{"components": [{"mounts": [` + strings.Repeat("{},", 2300000) + `{}]}]}`,
		"empty flows, spaced":           `{"network": {"firewall": {"flows": [ ` + strings.Repeat("{} , ", 3100000) + `{} ]}}}`,
	} {
		data := []byte(in)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p, err := Decode(data)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "lists would take") {
			t.Errorf("%s: Decode = %v elements, %v; want the lists refused", name, p != nil, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
			t.Errorf("%s: refusing %d bytes took %d MiB", name, len(data), got>>20)
		}
	}
}

// TestBoundKeepsLarge: what compile writes passes, and so does a stack larger than any
// written by hand: 300 components and 20,000 flows.
func TestBoundKeepsLarge(t *testing.T) {
	for name, data := range compiled(t) {
		if err := bounded(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// so that a compiled Plan of readPlan's 64 MiB passes maxListBytes
		if n := listBytes(data, listWeights().at); n > 2*int64(len(data)) || 2*(64<<20) > maxListBytes {
			t.Errorf("%s: its lists count %d bytes for %d of JSON", name, n, len(data))
		}
	}
	p, err := decodeStd(compiled(t)["shop/stack.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	for len(p.Components) < 300 {
		p.Components = append(p.Components, p.Components...)
	}
	for len(p.Network.Firewall.Flows) < 20000 {
		p.Network.Firewall.Flows = append(p.Network.Firewall.Flows, plan.Flow{Set: "flows", Src: "10.0.0.1/32", Dst: "10.0.0.2/32", Proto: "tcp", First: 1, Last: 2, Why: "why"})
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("a Plan of %d bytes, %d components: %v", len(data), len(p.Components), err)
	}
	if n := listBytes(data, listWeights().at); n > maxListBytes/4 {
		t.Errorf("its lists count %d MiB, within 4 times of the bound", n>>20)
	}
}

// TestBoundFree: up to boundFree, a Plan's lists could not take more than maxListBytes
// even were every other byte an element of the largest kind, so bounded need not count.
// It fails when policy/plan's types grow so much that boundFree must come down.
func TestBoundFree(t *testing.T) {
	if n := int64(boundFree+1) / 2 * listWeights().max; n > maxListBytes {
		t.Errorf("up to boundFree (%d bytes), lists could take %d MiB, over maxListBytes", boundFree, n>>20)
	}
}

// TestBoundWeights: a component, the largest element, counts with what its pointers
// hold, at the depth of components' elements.
func TestBoundWeights(t *testing.T) {
	w := listWeights()
	c := deepSize(reflect.TypeFor[plan.Component]())
	want := int64(reflect.TypeFor[plan.Component]().Size() + reflect.TypeFor[plan.Image]().Size() +
		reflect.TypeFor[plan.AuditMode]().Size() + reflect.TypeFor[plan.HealthCheck]().Size())
	if c != want || len(w.at) < 3 || w.at[2] != c || w.max != c {
		t.Errorf("component %d (want %d), weights %v, max %d", c, want, w.at, w.max)
	}
	if got := listBytes([]byte(`{"components": [{}, {"mounts": [{}, {}]}], "start_order": ["a"]}`), w.at); got != 3*c+2*w.at[4] {
		t.Errorf("listBytes = %d, want %d", got, 3*c+2*w.at[4])
	}
}
