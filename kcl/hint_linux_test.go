package kcl

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal side of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// TestHintOnTerminal: a processor started by hand says what it expects and
// how to try it, in one line; under a daemon (stdin a pipe) it says nothing.
func TestHintOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	hintIfTerminal(openPTY(t), &buf)
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want one line, got %q", out)
	}
	for _, want := range []string{"MultiLangDaemon", "kclgo fake -- ", "kclgo local -- ", "go install github.com/kclgo/kclgo/cmd/kclgo@latest"} {
		if !strings.Contains(out, want) {
			t.Errorf("hint %q lacks %q", out, want)
		}
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	buf.Reset()
	hintIfTerminal(r, &buf)
	if buf.Len() != 0 {
		t.Errorf("stdin a pipe: want no hint, got %q", buf.String())
	}
}
