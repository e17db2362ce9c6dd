package planahead

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/valyala/fastjson"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
)

// benchPolicy is bench/run.sh's full policy.
const benchPolicy = `version: 1
name: bench
run: {command: [/true], rootfs: /tmp/rootfs, user: "1000"}
filesystem: {read: [/true, /pause]}
syscalls: {extends: default}
resources: {memory: 64Mi, pids: 16, cpu: 0.5}
`

// compiled returns Plans as `confine compile --format json` writes them: bench/run.sh's
// policy, and the shop example's stack and components.
func compiled(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	add := func(name string, fsys fstest.MapFS, file string) {
		s, err := policy.Open(fsys, file)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p, err := policy.Compile(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	add("bench", fstest.MapFS{"true.yaml": {Data: []byte(benchPolicy)}}, "true.yaml")
	shop := fstest.MapFS{}
	for _, f := range []string{"stack.yaml", "api.yaml", "db.yaml", "frontend.yaml"} {
		data, err := os.ReadFile("../../../../examples/shop/" + f)
		if err != nil {
			t.Fatal(err)
		}
		shop[f] = &fstest.MapFile{Data: data}
	}
	for _, f := range []string{"stack.yaml", "api.yaml", "db.yaml", "frontend.yaml"} {
		add("shop/"+f, shop, f)
	}
	return out
}

// TestFastCompiled: the fast path decodes what compile writes, to what encoding/json
// decodes.
func TestFastCompiled(t *testing.T) {
	for name, data := range compiled(t) {
		p, ok := decodeFast(data)
		want, err := decodeStd(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !ok || !reflect.DeepEqual(p, want) {
			t.Errorf("%s: the fast path gave ok %v and a Plan other than encoding/json's", name, ok)
		}
	}
}

// fill sets every field beneath v: strings, numbers (their largest, or smallest, with
// max), true, two elements in each slice, a value behind each pointer.
func fill(v reflect.Value, n *int, max bool) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + strconv.Itoa(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
		if max {
			v.SetInt(math.MinInt64)
			if *n%2 == 0 {
				v.SetInt(math.MaxInt64)
			}
		}
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
		if max {
			v.SetUint(math.MaxUint64 >> (64 - v.Type().Bits()))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{0, 1, 254, byte(*n)})
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n, max)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n, max)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n, max)
		}
	default:
		panic("fill: a field of kind " + v.Kind().String() + ": teach fill and the fast path (fast.go) about it")
	}
}

// TestFastEveryField: a Plan with every field of every type set decodes on the fast
// path to itself. It fails when a field of policy/plan has no case in fast_*.go.
func TestFastEveryField(t *testing.T) {
	for _, max := range []bool{false, true} {
		var want plan.Plan
		n := 0
		fill(reflect.ValueOf(&want).Elem(), &n, max)
		data, err := json.MarshalIndent(&want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		p, ok := decodeFast(data)
		if !ok {
			t.Fatalf("max %v: the fast path left a Plan with every field set to encoding/json (a field without a case in fast_*.go?)", max)
		}
		if !reflect.DeepEqual(p, &want) {
			t.Errorf("max %v: the fast path decoded another Plan than was encoded", max)
		}
	}
}

// slowCases are Plans the fast path must leave to encoding/json, which takes some.
var slowCases = map[string]string{
	"case-folded key":  `{"Version": 1}`,
	"duplicate key":    `{"version": 1, "version": 2}`,
	"duplicate struct": `{"components": [{"process": {"cwd": "/a"}, "process": {"uid": 1}}]}`,
	"bytes after":      `{"version": 1} {"version": 2}`,
	"lone surrogate":   `{"name": "a\ud800b"}`,
	"bad pair":         `{"name": "a\ud800\u0041b"}`,
	"no utf-8":         "{\"name\": \"a\xffb\"}",
	"escaped control":  `{"name": "a\tb"}`,
	"raw control":      "{\"name\": \"\x00\\b\"}", // fastjson.Validate takes it
	"raw newline":      "{\"components\": [{\"seccomp\": {\"program\": \"AAAA\nAAAA\\/\"}}]}",
	"fraction":         `{"version": 1.0}`,
	"exponent":         `{"version": 1e0}`,
	"overflow":         `{"components": [{"uid_map": [{"size": 4294967296}]}]}`,
	"negative uint":    `{"components": [{"process": {"uid": -1}}]}`,
	"program array":    `{"components": [{"seccomp": {"program": [1, 2]}}]}`,
	"program base64":   `{"components": [{"seccomp": {"program": "!!"}}]}`,
	"unknown field":    `{"version": 1, "surprise": true}`,
	"unknown deep":     `{"components": [{"seccomp": {"rules": [{"syscalls": ["read"], "why": "x"}]}}]}`,
	"wrong type":       `{"components": [{"seccomp": {"rules": [{"syscalls": "read"}]}}]}`,
	"not an object":    `[]`,
	"syntax":           `{"version": 1,}`,
	"deep":             strings.Repeat("[", 100000),
	"large":            `{"name": "` + strings.Repeat("x", fastMax) + `"}`,
	"empty":            ``,
}

// TestFastLeavesToStd: for each, the fast path says it is not sure, and Decode answers
// as encoding/json does, error for error.
func TestFastLeavesToStd(t *testing.T) {
	for name, in := range slowCases {
		if _, ok := decodeFast([]byte(in)); ok {
			t.Errorf("%s: the fast path decoded %q", name, in)
		}
		p, err := Decode([]byte(in))
		want, wantErr := decodeStd([]byte(in))
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() || !reflect.DeepEqual(p, want) {
			t.Errorf("%s: Decode = %v, %v; encoding/json: %v, %v", name, p, err, want, wantErr)
		}
	}
}

// TestObjectFieldNumbers: a field numbered past what object tracks ends the fast path
// rather than letting its duplicate through.
func TestObjectFieldNumbers(t *testing.T) {
	var parser fastjson.Parser
	v, err := parser.Parse(`{"a": 1, "a": 2}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []int{31, 32, 40} {
		if object(v, func([]byte, *value) (int, bool) { return f, true }) {
			t.Errorf("field %d: a duplicate key passed", f)
		}
	}
}

// TestStdRefusesAfter: a second value after the Plan, or any text, is refused; the
// whitespace compile ends with is not.
func TestStdRefusesAfter(t *testing.T) {
	for in, want := range map[string]string{
		`{"version": 1} {"version": 2}`: "text after the Plan, at offset 15",
		"{\"version\": 1}\n\t x":        "text after the Plan, at offset 17",
		"{\"version\": 1}\n":            "",
	} {
		_, err := Decode([]byte(in))
		if got := fmt.Sprint(err); want == "" && err != nil || want != "" && got != want {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestFastNulls: null, [] and escapes decode as encoding/json decodes them.
func TestFastNulls(t *testing.T) {
	for _, in := range []string{
		`null`,
		`{"version": null, "name": null, "components": null, "network": null}`,
		`{"components": [null, {"image": null, "process": {"env": []}, "mounts": [], "seccomp": {"program": ""}}]}`,
		`{"components": [{"process": {"args": [null, "a\"\\\/\u00e9\ud83d\ude00"], "no_new_privs": false}}]}`,
		`{"components": [{"seccomp": {"program": "AAEC\/w=="}}]}`,
	} {
		p, ok := decodeFast([]byte(in))
		want, err := decodeStd([]byte(in))
		if err != nil || !ok || !reflect.DeepEqual(p, want) {
			t.Errorf("%s: fast %v (ok %v), encoding/json %v (%v)", in, p, ok, want, err)
		}
	}
}

// FuzzDecode: whatever the fast path decodes, encoding/json decodes too, to the same
// Plan; so a run takes exactly the Plans, and sees exactly what, review sees.
func FuzzDecode(f *testing.F) {
	for _, data := range compiled(f) {
		f.Add(data)
	}
	for _, max := range []bool{false, true} { // every field set, in a few KB
		var every plan.Plan
		n := 0
		fill(reflect.ValueOf(&every).Elem(), &n, max)
		data, err := json.Marshal(&every)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, in := range slowCases {
		if len(in) < 4096 { // the deep and the large are TestFastLeavesToStd's
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := decodeFast(data)
		want, err := decodeStd(data)
		if ok && (err != nil || !reflect.DeepEqual(p, want)) {
			t.Fatalf("the fast path decoded %q, which encoding/json decodes otherwise (%v)", data, err)
		}
		if err == nil && policy.PlainJSON(data) && policy.CheckVisible(want) != nil { // readPlan skips the walk
			t.Fatalf("%q is plain JSON, but CheckVisible refuses what it decodes to: %v", data, policy.CheckVisible(want))
		}
		w := listWeights() // bounded's shortcut holds for the JSON encoding/json decodes
		if n := listBytes(data, w.at); json.Valid(data) && n > int64(len(data)+1)/2*w.max {
			t.Fatalf("%q: its lists count %d bytes, over the %d bounded's shortcut allows", data, n, int64(len(data)+1)/2*w.max)
		}
		if bounded(data) != nil { // bound.go: refused before either decode
			if _, gotErr := Decode(data); gotErr == nil {
				t.Fatalf("Decode took %q, which bounded refuses", data)
			}
			return
		}
		if got, gotErr := Decode(data); (gotErr == nil) != (err == nil) || !ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode = %v, %v; encoding/json: %v, %v", got, gotErr, want, err)
		}
	})
}
