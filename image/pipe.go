package image

import (
	"errors"
	"io"
)

// pipeline runs a layer's download, decompression and both digests in a goroutine of
// their own, a few 1 MiB buffers ahead of the tar reader, as `tar -xz` runs gzip in a
// second process. The producer always reads both streams to EOF, so finish can check
// the digests over the whole streams whatever the tar reader left unread.
type pipeline struct {
	full chan []byte
	free chan []byte
	quit chan struct{}
	buf  []byte // the buffer being read, whole
	cur  []byte // what of it is left
	err  error  // the producer's, valid once full is closed
}

const pipeBufs, pipeBuf = 4, 1 << 20

func startPipeline(src *layerStream) *pipeline {
	p := &pipeline{full: make(chan []byte, pipeBufs), free: make(chan []byte, pipeBufs+1), quit: make(chan struct{})}
	for i := 0; i < pipeBufs+1; i++ {
		p.free <- make([]byte, pipeBuf)
	}
	go p.produce(src)
	return p
}

var errQuit = errors.New("unpack stopped")

func (p *pipeline) produce(src *layerStream) {
	defer close(p.full)
	for {
		var b []byte
		select {
		case b = <-p.free:
		case <-p.quit:
			p.err = errQuit
			return
		}
		n, err := io.ReadFull(src.uncomp, b)
		if n > 0 {
			select {
			case p.full <- b[:n]:
			case <-p.quit:
				p.err = errQuit
				return
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// Past the uncompressed end: read the blob to its end too (trailing bytes count).
			_, p.err = io.Copy(io.Discard, src.buf)
			return
		}
		if err != nil {
			p.err = err
			return
		}
	}
}

// Read gives the uncompressed stream to the tar reader.
func (p *pipeline) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		p.release()
		c, ok := <-p.full
		if !ok {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.buf, p.cur = c, c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// wait discards what the tar reader left and returns the producer's error.
func (p *pipeline) wait() error {
	p.release()
	for b := range p.full {
		p.free <- b[:cap(b)] // the producer may need it to reach EOF
	}
	return p.err
}

// stop ends the producer early (the unpack failed); a read blocked on the network ends
// when the caller closes the blob.
func (p *pipeline) stop() { close(p.quit) }

// release hands the buffer read back to the producer.
func (p *pipeline) release() {
	if p.buf != nil {
		p.free <- p.buf[:cap(p.buf)]
		p.buf, p.cur = nil, nil
	}
}
