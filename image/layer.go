package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// unpackLayer streams one layer blob through verification into work/, then renames the
// finished tree into layers/. Nothing reaches layers/ before both digests matched.
func (s *Store) unpackLayer(ctx context.Context, img v1.Image, desc v1.Descriptor, diffID v1.Hash, work string, tick func(int)) error {
	id := short(desc.Digest.Hex)
	fail := func(err error) error {
		var le *LayerError
		if errors.As(err, &le) {
			return err
		}
		return &LayerError{Layer: id, Reason: err.Error()}
	}
	l, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return fail(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	ls, err := openLayer(ctxReader{ctx, rc}, desc.Digest, diffID, desc.Size, s.Limits, tick)
	if err != nil {
		return fail(err)
	}
	tmp := filepath.Join(work, "layer-"+diffID.Hex)
	if err := os.MkdirAll(filepath.Join(tmp, "root"), 0o700); err != nil {
		return fail(err)
	}
	pipe := startPipeline(ls)
	info, err := unpack(pipe, filepath.Join(tmp, "root"), id, s.Limits)
	if err == nil {
		err = ls.finish(pipe)
	} else {
		pipe.stop()
		rc.Close() // ends a read the producer may be blocked in
		pipe.wait()
		ls.close()
	}
	if err == nil {
		info.DiffID, info.Digest = diffID.String(), desc.Digest.String()
		b, _ := json.MarshalIndent(info, "", "  ")
		err = os.WriteFile(filepath.Join(tmp, "layer.json"), b, 0o600)
	}
	if err != nil {
		removeTree(tmp)
		return fail(err)
	}
	if err := os.Rename(tmp, s.layerPath(diffID)); err != nil {
		removeTree(tmp)
		if s.hasLayer(diffID) {
			return nil // a concurrent pull won the rename: its copy is as good
		}
		return fail(err)
	}
	return nil
}

// ctxReader stops a download when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %v", errCanceled, err)
	}
	return c.r.Read(p)
}

// removeTree removes a tree the store made, even where a layer left a directory
// without write or search permission (an unprivileged store cannot override modes).
func removeTree(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		} else if err != nil && d != nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
