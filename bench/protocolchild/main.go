// Command protocolchild is kclbench's reference for the run loop's overhead: it reads the daemon's
// messages with protocol.Decoder, counts every record's decoded bytes,
// checkpoints once per batch at its last record and answers with the status.
//
// It uses package protocol directly, without the kcl run loop; compare it
// with kclgochild, the same work as a kcl record processor.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/kclgo/kclgo/protocol"
)

func main() {
	if f := os.Getenv("KCLBENCH_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err == nil && pprof.StartCPUProfile(out) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	dec := protocol.NewDecoder(os.Stdin)
	out := protocol.NewWriter(os.Stdout)
	var records, bytes int64
	check := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "protocolchild:", err)
			os.Exit(1)
		}
	}
	for {
		m, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// the deferred profile stop must run
			fmt.Fprintln(os.Stderr, "protocolchild:", err)
			break
		}
		check(err)
		switch m := m.(type) {
		case protocol.ProcessRecords:
			for i := range m.Records {
				records++
				bytes += int64(len(m.Records[i].Data))
			}
			if n := len(m.Records); n > 0 {
				last := &m.Records[n-1]
				seq, sub := last.SequenceNumber, last.SubSequenceNumber
				check(out.Write(protocol.Checkpoint{SequenceNumber: &seq, SubSequenceNumber: &sub}))
				reply, err := dec.Next()
				check(err)
				if c, ok := reply.(protocol.Checkpoint); !ok || c.Error != "" {
					check(fmt.Errorf("checkpoint reply %#v", reply))
				}
			}
		case protocol.Checkpoint:
			continue
		}
		check(out.Write(protocol.Status{ResponseFor: m.Action()}))
	}
	fmt.Fprintf(os.Stderr, "kclbench: records=%d bytes=%d\n", records, bytes)
}
