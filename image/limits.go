package image

// Limits bound what one image may make the store read and write. A layer past a limit
// is refused before the bytes are written: sizes are checked against each tar header
// (archive/tar expands sparse holes, so the header's size is what lands on disk).
type Limits struct {
	EntrySize  int64 // bytes of one file, as its tar header declares
	LayerSize  int64 // bytes of one layer: the uncompressed stream, the compressed one, and the sum of file sizes
	Entries    int   // tar entries of one layer, dropped ones included
	Layers     int   // layers of one image
	Blob       int64 // bytes of a manifest, config or index
	ZstdWindow uint64
}

// DefaultLimits are documented in docs/images.md; large CUDA layers fit, a bomb does not.
var DefaultLimits = Limits{
	EntrySize:  8 << 30,
	LayerSize:  32 << 30,
	Entries:    1 << 20,
	Layers:     127,
	Blob:       4 << 20,
	ZstdWindow: 128 << 20,
}
