// Command floorchild is kclbench's floor: the least work a MultiLangDaemon
// child can do. It reads stdin with read(2) into one growable buffer, finds
// each line's action with a byte search, checkpoints once per batch, answers
// with the status, and decodes nothing. With -pipesize it first enlarges its
// stdin pipe, as protocol.NewDecoder does, to show how much of a child's
// ratio to the floor comes from that alone. A real child's wall time is given as
// a multiple of this one's.
package main

import (
	"bytes"
	"flag"
	"os"
	"syscall"
)

func main() {
	pipeSize := flag.Int("pipesize", 0, "if set, ask for this stdin pipe buffer size (F_SETPIPE_SZ), as protocol.NewDecoder does")
	flag.Parse()
	if *pipeSize > 0 {
		syscall.Syscall(syscall.SYS_FCNTL, 0, 1031 /* F_SETPIPE_SZ */, uintptr(*pipeSize))
	}
	buf := make([]byte, 64<<10)
	start, end := 0, 0 // unread data is buf[start:end]
	scanned := 0       // buf[start:scanned] holds no '\n'
	pending := false   // a checkpoint reply is due before the processRecords status
	for {
		i := bytes.IndexByte(buf[scanned:end], '\n')
		if i < 0 {
			scanned = end
			if start > 0 {
				n := copy(buf, buf[start:end])
				scanned -= start
				start, end = 0, n
			}
			if end == len(buf) {
				grown := make([]byte, 2*len(buf))
				copy(grown, buf[:end])
				buf = grown
			}
			n, err := syscall.Read(0, buf[end:])
			if err == syscall.EINTR {
				continue
			}
			if n <= 0 {
				return
			}
			end += n
			continue
		}
		line := buf[start : scanned+i]
		start = scanned + i + 1
		scanned = start
		action := actionOf(line)
		switch {
		case action == "processRecords":
			write(`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}` + "\n")
			pending = true
		case action == "checkpoint":
			if pending {
				pending = false
				write(`{"action":"status","responseFor":"processRecords"}` + "\n")
			}
		case action != "":
			write(`{"action":"status","responseFor":"` + action + `"}` + "\n")
		}
	}
}

var key = []byte(`"action":"`)

// actionOf finds the message's action: the daemon writes it first.
func actionOf(line []byte) string {
	i := bytes.Index(line, key)
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func write(s string) {
	if _, err := os.Stdout.WriteString(s); err != nil {
		os.Exit(1)
	}
}
