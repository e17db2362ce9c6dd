package image

import (
	"bytes"
	"io"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// short is the first 12 hex digits of a digest, as errors and notes name layers.
func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}
