//go:build unix

package kcl

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// protectStdout keeps a private duplicate of file descriptor 1 for the
// protocol and points descriptor 1 at stderr, so that anything else written
// to stdout (fmt.Println, a C library, a child process inheriting it) ends up
// on stderr instead of corrupting the conversation with the daemon.
func protectStdout() (*os.File, error) {
	fd, err := unix.Dup(1)
	if err != nil {
		return nil, fmt.Errorf("kcl: duplicating stdout: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.Dup2(2, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("kcl: pointing stdout at stderr: %w", err)
	}
	return os.NewFile(uintptr(fd), "kcl-protocol-out"), nil
}
