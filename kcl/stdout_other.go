//go:build !unix

package kcl

import "os"

// protectStdout swaps os.Stdout for os.Stderr where file descriptors cannot
// be duplicated: code that writes to os.Stdout is caught, code that writes to
// the descriptor itself is not. restore swaps os.Stdout back; the original
// stdout is not closed.
func protectStdout() (out *os.File, restore func() error, err error) {
	out = os.Stdout
	os.Stdout = os.Stderr
	return out, func() error { os.Stdout = out; return nil }, nil
}
