// Command perrecord is a kclpy-style record processor: a handler called once
// per record, with a checkpoint policy (every N records or every T, whichever
// comes first). Name its binary as executableName in the daemon's properties
// file.
//
// Environment:
//
//	KCLGO_CHECKPOINT_EVERY    records between checkpoints (default 1000)
//	KCLGO_CHECKPOINT_SECONDS  seconds between checkpoints (default 60; both 0: every batch)
//	KCLGO_RECORD_LOG          append what was processed to this file (see samples/internal/recordlog)
//	KCLGO_SAMPLE_FAIL_BATCH   make the N-th batch of this process fail (for tests)
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

// sample wraps kcl.PerRecord to log checkpoints and to fail a batch on
// request.
type sample struct {
	*kcl.PerRecord
	shard     string
	log       *recordlog.Log
	failBatch int
	batches   int
}

func (s *sample) wrap(c kcl.Checkpointer) kcl.Checkpointer {
	return recordlog.Checkpointer{Checkpointer: c, Shard: s.shard, Log: s.log}
}

// ProcessRecords implements the kcl interface of the same name.
func (s *sample) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	s.batches++
	if s.batches == s.failBatch {
		return fmt.Errorf("sample: failing batch %d on purpose (KCLGO_SAMPLE_FAIL_BATCH)", s.batches)
	}
	in.Checkpointer = s.wrap(in.Checkpointer)
	return s.PerRecord.ProcessRecords(ctx, in)
}

// ShardEnded implements the kcl interface of the same name.
func (s *sample) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	in.Checkpointer = s.wrap(in.Checkpointer)
	return s.PerRecord.ShardEnded(ctx, in)
}

// ShutdownRequested implements the kcl interface of the same name.
func (s *sample) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	in.Checkpointer = s.wrap(in.Checkpointer)
	return s.PerRecord.ShutdownRequested(ctx, in)
}

func main() {
	log, err := recordlog.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := &sample{log: log, failBatch: envInt("KCLGO_SAMPLE_FAIL_BATCH", 0)}
	s.PerRecord = &kcl.PerRecord{
		OnInitialize: func(_ context.Context, in kcl.InitializeInput) error {
			s.shard = in.ShardID
			return nil
		},
		Handle: func(_ context.Context, r kcl.Record) (bool, error) {
			// Real work goes here. The record is finished when Handle
			// returns: only then may a checkpoint name it.
			s.log.Record(s.shard, r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.Data)
			return false, s.log.Flush()
		},
	}
	every, seconds := envInt("KCLGO_CHECKPOINT_EVERY", 1000), envInt("KCLGO_CHECKPOINT_SECONDS", 60)
	if every > 0 || seconds > 0 {
		s.Policy = checkpointer.Either(every, time.Duration(seconds)*time.Second)
	} // else: PerRecord's default, a checkpoint at the end of every batch
	opts := []kcl.Option{}
	if s.failBatch > 0 {
		opts = append(opts, kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1}))
	}
	if err := kcl.Run(context.Background(), s, opts...); err != nil {
		os.Exit(1)
	}
}
