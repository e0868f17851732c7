package protocol

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the stdin pipe buffer a Decoder asks for: 1 MiB, the default
// /proc/sys/fs/pipe-max-size. With Linux's default of 64 KiB, the daemon's
// writer and our reader take turns every 64 KiB of a 10 MB batch; with 1 MiB
// the writer runs ahead while we decode (kclbench: about 10% less wall time
// on 10 KiB records).
const pipeSize = 1 << 20

// growPipe enlarges r's pipe buffer if r is a pipe. It is best effort: a
// failure (not a pipe, above the user's limit) changes nothing.
func growPipe(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	// SyscallConn, unlike Fd, leaves the file's blocking mode alone.
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) // best effort, see above
	})
}
