package planahead

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/confine-sandbox/confine/policy/plan"
)

// A Plan is untrusted input (audit diff reads one from a pull request), read up to 64
// MiB, and encoding/json makes a whole element for every element of a list, whatever
// the bytes hold: `{"components":[{},{},…]}` costs some 1.5 KB of memory for every 3
// bytes, `[0,0,…]` as much (an element is made before its value is refused), so 900 KB
// took 2.3 GB and 64 MiB would take far more than a host has. Before any decode, the
// lists' elements are counted, each at the size of the largest element a list at its
// depth can hold, and a Plan whose lists would take more than maxListBytes is refused.
// A compiled Plan's lists take about as many bytes as its JSON (a component's some 30
// KB for 25-30 KB, 10,000 flows 0.9 MB for 1.4 MB), so any compiled Plan readPlan reads
// (64 MiB, some 2,500 components) passes.

// maxListBytes bounds the memory a Plan's lists may take once decoded: four times
// readPlan's 64 MiB, where a compiled Plan's lists take at most twice its bytes
// (TestBoundKeepsLarge), so the largest passes with room.
const maxListBytes = 256 << 20

// maxScanDepth is encoding/json's nesting limit: it refuses a deeper value before it
// decodes any of it, so the count stops there.
const maxScanDepth = 10000

// boundFree is the size up to which no Plan's lists can take more than maxListBytes
// (TestBoundFree): bounded counts nothing, nor learns the weights (reflection costs some
// 70 µs in a fresh process), for the Plans the fast path takes.
const boundFree = fastMax

// bounded refuses data whose lists would take more than maxListBytes to decode.
func bounded(data []byte) error {
	if len(data) <= boundFree {
		return nil
	}
	w := listWeights()
	// An element takes a byte of its own and is followed by a comma or its list's
	// end: at most (len+1)/2 of them, none larger than the largest weight. (Invalid
	// JSON may count more, and makes none: encoding/json checks it first.)
	if int64(len(data)+1)/2*w.max <= maxListBytes {
		return nil
	}
	if n := listBytes(data, w.at); n > maxListBytes {
		return fmt.Errorf("its lists would take %d MiB or more of memory to decode, over the %d MiB a Plan may take (lists of empty or wrong elements?)", n>>20, maxListBytes>>20)
	}
	return nil
}

// listBytes adds up, for each element of a list in data, at[depth] where depth is the
// number of objects and lists around it (the list's own counted). It stops at
// maxScanDepth. data need not be valid JSON: encoding/json checks the whole value
// before it decodes it, so an invalid one makes no element.
func listBytes(data []byte, at []int64) int64 {
	var total int64
	inList := make([]bool, 0, 16) // for each open object or list, whether it is a list
	weight := func() int64 {
		if d := len(inList); d < len(at) {
			return at[d]
		}
		return 0
	}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if len(inList) == maxScanDepth {
				return total
			}
			inList = append(inList, c == '[')
			if c == '[' && !emptyList(data[i+1:]) {
				total += weight()
			}
		case '}', ']':
			if len(inList) > 0 {
				inList = inList[:len(inList)-1]
			}
		case ',':
			if len(inList) > 0 && inList[len(inList)-1] {
				total += weight()
			}
		}
	}
	return total
}

// emptyList reports whether rest, what follows a '[', closes it with nothing but
// whitespace before.
func emptyList(rest []byte) bool {
	for _, c := range rest {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c == ']'
		}
	}
	return true
}

// weights are the sizes of the largest element of a list at each depth of a Plan, and
// the largest of all.
type weights struct {
	at  []int64
	max int64
}

// listWeights derives the weights from policy/plan's types, once: an element's size
// counts the values its pointers may hold; its own lists are counted at their depth.
// The Plan has no maps nor interfaces, whose entries this would miss: fast_test's fill
// fails on a field of such a kind.
var listWeights = sync.OnceValue(func() weights {
	var w weights
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		switch t.Kind() {
		case reflect.Pointer:
			walk(t.Elem(), depth)
		case reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				if f.Anonymous {
					walk(f.Type, depth) // encoding/json lifts its fields into t
				} else {
					walk(f.Type, depth+1)
				}
			}
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				return // base64 text
			}
			for len(w.at) <= depth+1 {
				w.at = append(w.at, 0)
			}
			w.at[depth+1] = max(w.at[depth+1], deepSize(t.Elem()))
			w.max = max(w.max, w.at[depth+1])
			walk(t.Elem(), depth+1)
		}
	}
	walk(reflect.TypeFor[plan.Plan](), 0)
	return w
})

// deepSize is t's size with what its pointers point to, lists aside.
func deepSize(t reflect.Type) int64 {
	n := int64(t.Size())
	switch t.Kind() {
	case reflect.Pointer:
		n += deepSize(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i).Type; f.Kind() == reflect.Pointer || f.Kind() == reflect.Struct {
				n += deepSize(f) - int64(f.Size())
			}
		}
	}
	return n
}
