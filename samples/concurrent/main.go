// Command concurrent is a record processor for a slow handler: kcl.Concurrent
// runs it on many goroutines per shard and checkpoints only the watermark,
// the last record before which every record is finished. Name its binary as
// executableName in the daemon's properties file, and set
// callProcessRecordsEvenForEmptyRecordList = true there so that an idle
// shard still checkpoints the records finished since the last batch.
//
// Environment:
//
//	KCLGO_HANDLER_MS          milliseconds the handler sleeps per record, standing in for I/O (default 5)
//	KCLGO_WORKERS             goroutines per shard (default 64)
//	KCLGO_CHECKPOINT_EVERY    records between checkpoints (default 1000)
//	KCLGO_CHECKPOINT_SECONDS  seconds between checkpoints (default 60; both 0: at every batch)
//	KCLGO_RECORD_LOG          append what was processed to this file (see samples/internal/recordlog)
//	KCLGO_LOG_LEVEL           debug, info, warn, error
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kclgo/kclgo/checkpointer"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/samples/internal/env"
	"github.com/kclgo/kclgo/samples/internal/recordlog"
)

func main() {
	log, err := recordlog.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	latency := time.Duration(env.Int("KCLGO_HANDLER_MS", 5)) * time.Millisecond
	p := &recordlog.Processor{Log: log} // logs initialize, checkpoints and lease loss
	c := &kcl.Concurrent{
		Workers: env.Int("KCLGO_WORKERS", 64),
		Handle: func(ctx context.Context, r kcl.Record) error {
			// Real work goes here: an HTTP call, a database write.
			select {
			case <-time.After(latency):
			case <-ctx.Done():
				return ctx.Err()
			}
			// The record is finished when Handle returns: only then
			// may the watermark pass it.
			log.Record(p.Shard(), r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.Data)
			return log.Flush()
		},
	}
	every, seconds := env.Int("KCLGO_CHECKPOINT_EVERY", 1000), env.Int("KCLGO_CHECKPOINT_SECONDS", 60)
	if every > 0 || seconds > 0 {
		c.Policy = checkpointer.Either(every, time.Duration(seconds)*time.Second)
	} // else: Concurrent's default, the watermark at every batch
	p.RecordProcessor = c
	if err := kcl.Run(context.Background(), p); err != nil {
		os.Exit(1)
	}
}
