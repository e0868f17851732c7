package kcl

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// terminalHint is the line Run prints on stderr when stdin is a terminal:
// someone started the processor by hand, and it would wait silently for a
// daemon that is not there.
const terminalHint = "%s is a Kinesis record processor (kclgo): it expects to be started by the KCL MultiLangDaemon and to talk to it on stdin and stdout, so it is waiting for the daemon's messages now. " +
	"To try it, run `kclgo fake -- %s` (a fake daemon, no Java) or `kclgo local -- %s` (the real daemon on local emulators); " +
	"install the tool with `go install github.com/kclgo/kclgo/cmd/kclgo@latest`.\n"

// hintIfTerminal writes terminalHint to w when in is a terminal.
func hintIfTerminal(in *os.File, w io.Writer) {
	if !isatty.IsTerminal(in.Fd()) && !isatty.IsCygwinTerminal(in.Fd()) {
		return
	}
	name := os.Args[0]
	fmt.Fprintf(w, terminalHint, name, name, name)
}
