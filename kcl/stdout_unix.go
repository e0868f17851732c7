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
//
// restore points descriptor 1 back at the original stdout and closes the
// duplicate; a write to it still under way finishes first, later ones fail.
func protectStdout() (out *os.File, restore func() error, err error) {
	fd, err := unix.Dup(1)
	if err != nil {
		return nil, nil, fmt.Errorf("kcl: duplicating stdout: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.Dup2(2, 1); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("kcl: pointing stdout at stderr: %w", err)
	}
	out = os.NewFile(uintptr(fd), "kcl-protocol-out")
	restore = func() error {
		derr := unix.Dup2(fd, 1) // fd stays open until out.Close below
		cerr := out.Close()
		if derr != nil {
			return fmt.Errorf("kcl: pointing stdout back at the original: %w", derr)
		}
		return cerr
	}
	return out, restore, nil
}
