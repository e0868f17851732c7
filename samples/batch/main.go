// Command batch is kclgo's equivalent of amazon_kclpy's sample application:
// a record processor on the batch API that logs each record, tracks the
// largest sequence number it finished, and checkpoints there every N seconds
// (and at shard end and on shutdown requested). Name its binary as
// executableName in the daemon's properties file.
//
// Environment:
//
//	KCLGO_CHECKPOINT_SECONDS  seconds between checkpoints (default 60; 0: every batch)
//	KCLGO_RECORD_LOG          append what was processed to this file (see samples/internal/recordlog)
//	KCLGO_SAMPLE_FAIL_BATCH   make the N-th batch of this process fail (for tests)
//	KCLGO_LOG_LEVEL           debug, info, warn, error
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/samples/internal/env"
	"github.com/kclgo/kclgo/samples/internal/recordlog"
)

type processor struct {
	shard          string
	every          time.Duration
	lastCheckpoint time.Time
	largestSeq     string
	largestSub     int64
	failBatch      int
	batches        int
	log            *recordlog.Log
}

// Initialize implements the kcl interface of the same name.
func (p *processor) Initialize(ctx context.Context, in kcl.InitializeInput) error {
	p.shard = in.ShardID
	p.lastCheckpoint = time.Now()
	zerolog.Ctx(ctx).Info().Str("from", in.SequenceNumber).Msg("initialized")
	return nil
}

// ProcessRecords implements the kcl interface of the same name.
func (p *processor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	p.batches++
	if p.batches == p.failBatch {
		return fmt.Errorf("sample: failing batch %d on purpose (KCLGO_SAMPLE_FAIL_BATCH)", p.batches)
	}
	log := zerolog.Ctx(ctx)
	for _, r := range in.Records {
		log.Debug().Str("partitionKey", r.PartitionKey).Str("sequenceNumber", r.SequenceNumber).
			Int64("subSequenceNumber", r.SubSequenceNumber).Int("bytes", len(r.Data)).Msg("record")
		p.largestSeq, p.largestSub = r.SequenceNumber, r.SubSequenceNumber
		p.log.Record(p.shard, r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.Data)
	}
	if err := p.log.Flush(); err != nil {
		return err
	}
	log.Info().Int("records", len(in.Records)).Int64("millisBehindLatest", in.MillisBehindLatest).Msg("batch processed")
	if time.Since(p.lastCheckpoint) >= p.every && p.largestSeq != "" {
		return p.checkpoint(ctx, in.Checkpointer, p.largestSeq, p.largestSub)
	}
	return nil
}

// checkpoint checkpoints at a finished record. A lease that moved on
// (ErrShutdown) is not an error: the daemon sends leaseLost next.
func (p *processor) checkpoint(ctx context.Context, c kcl.Checkpointer, seq string, sub int64) error {
	var err error
	if seq == "" {
		err = c.Checkpoint(ctx)
	} else {
		err = c.CheckpointAt(ctx, seq, sub)
	}
	switch {
	case err == nil:
		p.lastCheckpoint = time.Now()
		p.log.Checkpoint(p.shard, seq, sub)
		return p.log.Flush()
	case errors.Is(err, kcl.ErrShutdown):
		zerolog.Ctx(ctx).Info().Err(err).Msg("lease gone; not checkpointing")
		return nil
	default:
		// Throttling was already retried by the SDK. Failing here would
		// redeliver the batch; the next checkpoint covers it instead.
		zerolog.Ctx(ctx).Warn().Err(err).Msg("checkpoint failed; the next one will cover these records")
		return nil
	}
}

// LeaseLost implements the kcl interface of the same name.
func (p *processor) LeaseLost(ctx context.Context, _ kcl.LeaseLostInput) error {
	zerolog.Ctx(ctx).Info().Msg("lease lost")
	return nil
}

// ShardEnded implements the kcl interface of the same name.
func (p *processor) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	zerolog.Ctx(ctx).Info().Msg("shard ended; checkpointing its end")
	if err := in.Checkpointer.Checkpoint(ctx); err != nil {
		return err // without it the child shards never start: let Run retry
	}
	p.log.Checkpoint(p.shard, "", 0)
	return p.log.Flush()
}

// ShutdownRequested implements the kcl interface of the same name.
func (p *processor) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	if p.largestSeq == "" {
		return nil
	}
	return p.checkpoint(ctx, in.Checkpointer, p.largestSeq, p.largestSub)
}

func main() {
	log, err := recordlog.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	p := &processor{
		every:     time.Duration(env.Int("KCLGO_CHECKPOINT_SECONDS", 60)) * time.Second,
		failBatch: env.Int("KCLGO_SAMPLE_FAIL_BATCH", 0),
		log:       log,
	}
	opts := []kcl.Option{}
	if p.failBatch > 0 {
		opts = append(opts, kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1}))
	}
	if err := kcl.Run(context.Background(), p, opts...); err != nil {
		os.Exit(1) // Run has logged why
	}
}
