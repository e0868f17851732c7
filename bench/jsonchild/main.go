// Command jsonchild is kclbench's naive reference: what a straightforward Go
// child does with bufio.Scanner and encoding/json, decoding every record's
// data ([]byte fields are base64), counting bytes and checkpointing once per
// batch at its last record.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

type record struct {
	Data                        []byte `json:"data"`
	PartitionKey                string `json:"partitionKey"`
	SequenceNumber              string `json:"sequenceNumber"`
	ApproximateArrivalTimestamp int64  `json:"approximateArrivalTimestamp"`
	SubSequenceNumber           int64  `json:"subSequenceNumber"`
}

type message struct {
	Action             string   `json:"action"`
	ShardID            string   `json:"shardId"`
	Records            []record `json:"records"`
	MillisBehindLatest int64    `json:"millisBehindLatest"`
	Error              *string  `json:"error"`
}

type checkpoint struct {
	Action            string  `json:"action"`
	SequenceNumber    *string `json:"sequenceNumber"`
	SubSequenceNumber *int64  `json:"subSequenceNumber"`
}

type status struct {
	Action      string `json:"action"`
	ResponseFor string `json:"responseFor"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 1<<30)
	out := json.NewEncoder(os.Stdout)
	var records, bytes int64
	send := func(v any) {
		if err := out.Encode(v); err != nil {
			os.Exit(1)
		}
	}
	readReply := func() {
		for in.Scan() {
			var m message
			if err := json.Unmarshal(in.Bytes(), &m); err == nil && m.Action == "checkpoint" {
				return
			}
		}
		os.Exit(1)
	}
	for in.Scan() {
		if len(in.Bytes()) == 0 {
			continue
		}
		var m message
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			fmt.Fprintln(os.Stderr, "jsonchild:", err)
			os.Exit(1)
		}
		switch m.Action {
		case "processRecords":
			for _, r := range m.Records {
				records++
				bytes += int64(len(r.Data))
			}
			if n := len(m.Records); n > 0 {
				last := m.Records[n-1]
				send(checkpoint{"checkpoint", &last.SequenceNumber, &last.SubSequenceNumber})
				readReply()
			}
		}
		send(status{"status", m.Action})
	}
	fmt.Fprintf(os.Stderr, "kclbench: records=%d bytes=%d\n", records, bytes)
}
