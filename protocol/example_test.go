package protocol_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/kclgo/kclgo/protocol"
)

// A child reads the daemon's messages with a Decoder and answers with a
// Writer.
func Example() {
	in := strings.NewReader(`{"action":"initialize","shardId":"shardId-000000000000","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}
{"action":"processRecords","records":[{"data":"bWVvdw==","partitionKey":"cat","sequenceNumber":"1","approximateArrivalTimestamp":1476889707000,"subSequenceNumber":0,"action":"record"}],"millisBehindLatest":0}
`)
	dec := protocol.NewDecoder(in)
	out := protocol.NewWriter(os.Stdout)
	for {
		m, err := dec.Next()
		if err != nil {
			break // io.EOF: the daemon closed stdin
		}
		if pr, ok := m.(protocol.ProcessRecords); ok {
			for _, r := range pr.Records {
				fmt.Fprintf(os.Stderr, "%s %s\n", r.PartitionKey, r.Data)
			}
		}
		_ = out.Write(protocol.Status{ResponseFor: m.Action()})
	}
	// Output:
	// {"action":"status","responseFor":"initialize"}
	// {"action":"status","responseFor":"processRecords"}
}
