package planahead

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/confine-sandbox/confine/policy/plan"
)

// The fast path maps the JSON onto the Plan's types field by field, with no reflection:
// encoding/json learns the Plan's 31 struct types in every process before it decodes
// one (and builds all their encoders too), which costs more than the decode itself.
// fastjson parses the bytes into a tree and validates them against JSON's grammar; the
// decoders of fast_*.go copy the tree into the Plan. It only ever answers what
// encoding/json would: anything it is not sure of (an unknown, duplicate or differently
// spelt key, a wrong type, a string fastjson may unescape otherwise, bytes after the
// value) ends it with ok false, and Decode asks encoding/json, whose answer and error
// stand. FuzzDecode holds it to that.

// fastMax is the largest Plan the fast path takes: fastjson's tree costs up to some 240
// bytes a byte of input (`[1,1,…]`), where encoding/json refuses such input having
// allocated only its copy. A component's Plan is some 25 KB; a stack's, for audit diff,
// can be larger, and is left to encoding/json.
const fastMax = 256 << 10

// decodeFast is encoding/json's decode of data, when ok.
func decodeFast(data []byte) (*plan.Plan, bool) {
	if len(data) > fastMax {
		return nil, false
	}
	// Parse first: it refuses nesting deeper than fastjson.MaxDepth, which Validate,
	// recursive too, would follow as deep as the bytes go.
	var parser fastjson.Parser
	v, err := parser.ParseBytes(data)
	if err != nil || fastjson.ValidateBytes(data) != nil {
		return nil, false
	}
	var p plan.Plan
	if !decodePlan(v, &p) {
		return nil, false
	}
	return &p, true
}

// value is one JSON value of the tree.
type value = fastjson.Value

// null reports whether v is null, which encoding/json decodes as nothing: the field
// keeps its zero value (there are no duplicate keys to have set it before).
func null(v *value) bool { return v.Type() == fastjson.TypeNull }

// object calls set for each key of the object v, in order; null is an object with no
// keys. set returns the key's field number (below 32: Component has 24), or ok false for
// a key it does not know, which encoding/json would refuse; a field seen twice ends the
// fast path too (encoding/json would merge or overwrite).
func object(v *value, set func(key []byte, v *value) (field int, ok bool)) bool {
	if null(v) {
		return true
	}
	o, err := v.Object()
	if err != nil {
		return false
	}
	var seen uint32
	ok := true
	o.Visit(func(key []byte, v *value) {
		if !ok {
			return
		}
		f, known := set(key, v)
		ok = known && f < 32 && seen&(1<<f) == 0 // past 31 a second would pass unseen
		seen |= 1 << f
	})
	return ok
}

// list decodes the array v into *dst with elem; null leaves *dst nil, and [] makes it
// empty but not nil, as encoding/json does.
func list[T any](v *value, dst *[]T, elem func(*value, *T) bool) bool {
	if null(v) {
		return true
	}
	a, err := v.Array()
	if err != nil {
		return false
	}
	s := make([]T, len(a))
	for i, e := range a {
		if !elem(e, &s[i]) {
			return false
		}
	}
	*dst = s
	return true
}

// ptr decodes v into a new T at *dst, or leaves it nil for null.
func ptr[T any](v *value, dst **T, dec func(*value, *T) bool) bool {
	if null(v) {
		return true
	}
	t := new(T)
	*dst = t
	return dec(v, t)
}

// str decodes a string. fastjson unescapes what JSON defines as encoding/json does, but
// keeps bytes that are no UTF-8 and lone surrogates as they are, or makes a bad pair one
// U+FFFD, where encoding/json writes U+FFFD for each; and Validate misses a control
// character before an escape, which JSON refuses: a string holding any of these, a
// U+FFFD, a `\u` or a control character (escaped or not) is left to encoding/json.
func str(v *value, dst *string) bool {
	if null(v) {
		return true
	}
	b, err := v.StringBytes()
	if err != nil || !plain(b) {
		return false
	}
	*dst = string(b)
	return true
}

// plain reports whether b is UTF-8 with no control character, U+FFFD or `\u`.
func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b) && !bytes.Contains(b, []byte("\ufffd")) && !bytes.Contains(b, []byte(`\u`))
}

func strs(v *value, dst *[]string) bool { return list(v, dst, str) }

func boolean(v *value, dst *bool) bool {
	switch v.Type() {
	case fastjson.TypeNull:
	case fastjson.TypeTrue:
		*dst = true
	case fastjson.TypeFalse:
		*dst = false
	default:
		return false
	}
	return true
}

// signed and unsigned parse as encoding/json does, with strconv, refusing what does not
// fit the field (1.0, 1e3, an overflow all end the fast path).
func signed[T ~int | ~int64](v *value, dst *T, bits int) bool {
	if null(v) {
		return true
	}
	if v.Type() != fastjson.TypeNumber {
		return false
	}
	n, err := strconv.ParseInt(v.String(), 10, bits)
	*dst = T(n)
	return err == nil
}

func unsigned[T ~uint | ~uint16 | ~uint32 | ~uint64](v *value, dst *T, bits int) bool {
	if null(v) {
		return true
	}
	if v.Type() != fastjson.TypeNumber {
		return false
	}
	n, err := strconv.ParseUint(v.String(), 10, bits)
	*dst = T(n)
	return err == nil
}

func ints(v *value, dst *int) bool       { return signed(v, dst, strconv.IntSize) }
func int64s(v *value, dst *int64) bool   { return signed(v, dst, 64) }
func uints(v *value, dst *uint) bool     { return unsigned(v, dst, strconv.IntSize) }
func uint16s(v *value, dst *uint16) bool { return unsigned(v, dst, 16) }
func uint32s(v *value, dst *uint32) bool { return unsigned(v, dst, 32) }
func uint64s(v *value, dst *uint64) bool { return unsigned(v, dst, 64) }

// base64Bytes decodes a []byte field as encoding/json does: a base64 string (an array of
// numbers, which encoding/json also takes, is left to it).
func base64Bytes(v *value, dst *[]byte) bool {
	if null(v) {
		return true
	}
	b, err := v.StringBytes()
	if err != nil || !plain(b) {
		return false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	*dst = out[:n]
	return err == nil
}
