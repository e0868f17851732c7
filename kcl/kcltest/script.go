package kcltest

import (
	"fmt"

	"github.com/kclgo/kclgo/protocol"
)

// Initialize returns the initialize message of a processor starting on
// shardID at TRIM_HORIZON.
func Initialize(shardID string) protocol.Message {
	seq, sub := protocol.SentinelTrimHorizon, int64(0)
	return protocol.Initialize{ShardID: shardID, SequenceNumber: &seq, SubSequenceNumber: &sub}
}

// Batch returns a processRecords message carrying records.
func Batch(records ...protocol.Record) protocol.Message {
	var millis int64
	if records == nil {
		records = []protocol.Record{}
	}
	return protocol.ProcessRecords{Records: records, MillisBehindLatest: &millis}
}

// Records returns n records of size bytes each, with sequence numbers first,
// first+1, ... (as 56-digit Kinesis-like strings), partition keys "pk-0",
// "pk-1", ..., and data that names the record ("rec-000007" padded or cut to
// size; size 0 means the bare name).
func Records(first, n, size int) []protocol.Record {
	out := make([]protocol.Record, n)
	for i := range out {
		id := first + i
		data := []byte(fmt.Sprintf("rec-%06d", id))
		if size > 0 {
			padded := make([]byte, size)
			for j := range padded {
				padded[j] = 'x'
			}
			copy(padded, data)
			data = padded
		}
		out[i] = protocol.Record{
			Data:                        data,
			PartitionKey:                fmt.Sprintf("pk-%d", id),
			SequenceNumber:              SequenceNumber(id),
			ApproximateArrivalTimestamp: 1795576046680 + int64(id),
		}
	}
	return out
}

// SequenceNumber returns the Kinesis-like sequence number Records gives
// record i.
func SequenceNumber(i int) string {
	return fmt.Sprintf("49590338271490256608559692538361571095921575989136%06d", i)
}

// Lifecycle returns a whole script for one shard: initialize, one
// processRecords per batch, then end (e.g. protocol.ShardEnded{} or
// protocol.LeaseLost{}).
func Lifecycle(shardID string, end protocol.Message, batches ...[]protocol.Record) []protocol.Message {
	script := []protocol.Message{Initialize(shardID)}
	for _, b := range batches {
		script = append(script, Batch(b...))
	}
	return append(script, end)
}
