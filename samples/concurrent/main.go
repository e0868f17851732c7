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
	"strconv"
	"time"

	"github.com/kclgo/kclgo/checkpointer"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/samples/internal/recordlog"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// sample wraps kcl.Concurrent to log checkpoints.
type sample struct {
	*kcl.Concurrent
	shard string
	log   *recordlog.Log
}

func (s *sample) wrap(c kcl.Checkpointer) kcl.Checkpointer {
	return recordlog.Checkpointer{Checkpointer: c, Shard: s.shard, Log: s.log}
}

// ProcessRecords implements the kcl interface of the same name.
func (s *sample) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	in.Checkpointer = s.wrap(in.Checkpointer)
	return s.Concurrent.ProcessRecords(ctx, in)
}

// ShardEnded implements the kcl interface of the same name.
func (s *sample) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	in.Checkpointer = s.wrap(in.Checkpointer)
	return s.Concurrent.ShardEnded(ctx, in)
}

// ShutdownRequested implements the kcl interface of the same name.
func (s *sample) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	in.Checkpointer = s.wrap(in.Checkpointer)
	return s.Concurrent.ShutdownRequested(ctx, in)
}

// LeaseLost implements the kcl interface of the same name; it notes the
// loss in the record log.
func (s *sample) LeaseLost(ctx context.Context, in kcl.LeaseLostInput) error {
	s.log.LeaseLost(s.shard)
	if err := s.log.Flush(); err != nil {
		return err
	}
	return s.Concurrent.LeaseLost(ctx, in)
}

func main() {
	log, err := recordlog.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	latency := time.Duration(envInt("KCLGO_HANDLER_MS", 5)) * time.Millisecond
	s := &sample{log: log}
	s.Concurrent = &kcl.Concurrent{
		Workers: envInt("KCLGO_WORKERS", 64),
		OnInitialize: func(_ context.Context, in kcl.InitializeInput) error {
			s.shard = in.ShardID
			s.log.Initialize(in.ShardID, in.SequenceNumber, in.SubSequenceNumber)
			return s.log.Flush()
		},
		Handle: func(ctx context.Context, r kcl.Record) error {
			// Real work goes here: an HTTP call, a database write.
			select {
			case <-time.After(latency):
			case <-ctx.Done():
				return ctx.Err()
			}
			// The record is finished when Handle returns: only then
			// may the watermark pass it.
			s.log.Record(s.shard, r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.Data)
			return s.log.Flush()
		},
	}
	every, seconds := envInt("KCLGO_CHECKPOINT_EVERY", 1000), envInt("KCLGO_CHECKPOINT_SECONDS", 60)
	if every > 0 || seconds > 0 {
		s.Policy = checkpointer.Either(every, time.Duration(seconds)*time.Second)
	} // else: Concurrent's default, the watermark at every batch
	if err := kcl.Run(context.Background(), s); err != nil {
		os.Exit(1)
	}
}
