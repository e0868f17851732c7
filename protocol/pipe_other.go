//go:build !linux

package protocol

import "io"

// growPipe does nothing: F_SETPIPE_SZ is Linux's.
func growPipe(io.Reader) {}
