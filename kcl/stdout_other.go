//go:build !unix

package kcl

import "os"

// protectStdout swaps os.Stdout for os.Stderr where file descriptors cannot
// be duplicated: code that writes to os.Stdout is caught, code that writes to
// the descriptor itself is not.
func protectStdout() (*os.File, error) {
	out := os.Stdout
	os.Stdout = os.Stderr
	return out, nil
}
