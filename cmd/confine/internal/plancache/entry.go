package plancache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
)

// magic begins every entry; a new layout takes a new one.
const magic = "confine kept plan 2\n"

// entry is what is kept under a key: the files the loader read, the absolute paths it
// was given and the images compile resolved (images.go), each to be as noted for the
// Plan to be taken, and the Plan's JSON.
type entry struct {
	key    string
	deps   []dep
	abs    []absName
	images []imageDep
	plan   []byte
}

// encode lays e out as magic, then each field after its length, then the SHA-256 of all
// before it: an entry cut short or damaged on disk is not read as another.
func (e *entry) encode() []byte {
	n := len(magic) + len(e.key) + len(e.plan) + 64
	for _, d := range e.deps {
		n += len(d.name) + len(d.sum) + 8
	}
	for _, a := range e.abs {
		n += len(a.name) + len(a.abs) + 8
	}
	for _, i := range e.images {
		n += len(i.store) + len(i.ref) + len(i.digest) + len(i.index) + 12
	}
	b := append(make([]byte, 0, n+sha256.Size), magic...)
	b = appendBytes(b, []byte(e.key))
	b = binary.AppendUvarint(b, uint64(len(e.deps)))
	for _, d := range e.deps {
		b = appendBytes(b, []byte(d.name))
		b = append(b, d.sum[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.abs)))
	for _, a := range e.abs {
		b = appendBytes(b, []byte(a.name))
		b = appendBytes(b, []byte(a.abs))
	}
	b = binary.AppendUvarint(b, uint64(len(e.images)))
	for _, i := range e.images {
		for _, f := range []string{i.store, i.ref, i.digest} {
			b = appendBytes(b, []byte(f))
		}
		b = append(b, i.index[:]...)
	}
	b = appendBytes(b, e.plan)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// decodeEntry reads an entry that encode wrote under key, or ok false for anything else:
// another layout, another key, a damaged or short one.
func decodeEntry(data []byte, key string) (e entry, ok bool) {
	if len(data) < len(magic)+sha256.Size || !bytes.HasPrefix(data, []byte(magic)) {
		return e, false
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return e, false
	}
	d := decoder{b: body[len(magic):]}
	if e.key = string(d.bytes()); e.key != key {
		return e, false
	}
	for range d.count() {
		var x dep
		x.name = string(d.bytes())
		copy(x.sum[:], d.take(len(x.sum)))
		e.deps = append(e.deps, x)
	}
	for range d.count() {
		name := string(d.bytes())
		e.abs = append(e.abs, absName{name, string(d.bytes())})
	}
	for range d.count() {
		var i imageDep
		i.store, i.ref, i.digest = string(d.bytes()), string(d.bytes()), string(d.bytes())
		copy(i.index[:], d.take(len(i.index)))
		e.images = append(e.images, i)
	}
	e.plan = d.bytes()
	return e, !d.bad && len(d.b) == 0 && len(e.deps) > 0
}

// decoder reads what encode wrote; past a fault it reads nothing and bad says so.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count is a list's length, bounded by the bytes left (each element takes one or more).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return 0
	}
	return int(n)
}

func (d *decoder) take(n int) []byte {
	if n > len(d.b) {
		d.bad, d.b = true, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	return d.take(int(n))
}
