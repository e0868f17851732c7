package kcl

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/protocol"
)

// ActionRunner calls the methods of one shard's [RecordProcessor] the way
// [Run] does, for runtimes other than the daemon's child (such as a native
// worker) and for Run itself. Each method:
//
//   - passes the processor a context that carries the logger and is
//     cancelled when the method returns or the transport fails;
//   - hands it a Checkpointer built on the given [CheckpointTransport],
//     valid only until the method returns: calls are serialized, throttling
//     and dependency refusals are retried by the checkpoint [RetryPolicy],
//     refusals are [*CheckpointError]s, and a call after the end returns
//     [ErrCheckpointNotAllowed] without calling the transport;
//   - recovers a panic as a [*PanicError] and retries a failed call as the
//     processor RetryPolicy allows (the same Checkpointer stays valid across
//     retries);
//   - waits, before it returns, for a checkpoint still in flight on another
//     goroutine, so that nothing is checkpointed after it returned.
//
// Errors and logs name the action as the protocol does (protocol.Action*).
// Each method returns nil when the processor succeeded (acknowledge the action), an
// [*ActionError] when every attempt failed (do not acknowledge: records were
// not processed), or the error the transport returned (do not acknowledge;
// checkpoints cannot go on).
//
// Options are those of Run; [WithShutdownGrace] has no effect here. With
// [WithMeterProvider] the runner records the processing metrics of every
// runtime (see the README's table): a [PerRecord] or any other processor
// run by it gets them without code of its own. The
// methods must not be called concurrently: the processor's methods never
// are. A nil transport means no checkpoint is allowed: the Checkpointer
// returns ErrCheckpointNotAllowed. Make an ActionRunner with NewActionRunner:
// without a processor, every method returns an ActionError.
type ActionRunner struct {
	p       RecordProcessor
	opts    options
	log     zerolog.Logger
	shardID string
	tel     *telemetry.Processing // nil: no metrics
	shard   *telemetry.Shard      // tel's instruments for shardID; nil: no metrics
}

// NewActionRunner returns an ActionRunner for p, configured as Run would be
// by the same options.
func NewActionRunner(p RecordProcessor, opts ...Option) *ActionRunner {
	o := newOptions(opts)
	return newActionRunner(p, o, o.log())
}

func newActionRunner(p RecordProcessor, o options, log zerolog.Logger) *ActionRunner {
	tel, err := telemetry.NewProcessing(o.meterProvider, o.metricAttrs...)
	if err != nil {
		log.Warn().Err(err).Msg("the meter provider refused an instrument; metrics are incomplete")
	}
	return &ActionRunner{p: p, opts: o, log: log, tel: tel, shard: tel.Shard("")}
}

// Initialize calls the processor's Initialize. From then on the runner's
// logs and errors carry in.ShardID.
func (r *ActionRunner) Initialize(ctx context.Context, in InitializeInput) error {
	r.shardID = in.ShardID
	r.log = r.log.With().Str("shard", in.ShardID).Logger()
	r.shard = r.tel.Shard(in.ShardID)
	return r.run(ctx, protocol.ActionInitialize, false, nil, func(ctx context.Context, _ *checkpointScope) error {
		return r.p.Initialize(ctx, in)
	})
}

// ProcessRecords calls the processor's ProcessRecords with in, its
// Checkpointer set to one on t (a Checkpointer in in is replaced).
func (r *ActionRunner) ProcessRecords(ctx context.Context, in ProcessRecordsInput, t CheckpointTransport) error {
	r.shard.BehindLatest(ctx, in.MillisBehindLatest)
	err := r.run(ctx, protocol.ActionProcessRecords, true, t, func(ctx context.Context, cp *checkpointScope) error {
		in.Checkpointer = cp
		return r.p.ProcessRecords(ctx, in)
	})
	if err == nil && r.shard != nil {
		var n int64
		for i := range in.Records {
			n += int64(len(in.Records[i].Data))
		}
		r.shard.Processed(ctx, int64(len(in.Records)), n)
	}
	return err
}

// ShardEnded calls the processor's ShardEnded and then, if the processor
// did not checkpoint without a position, checkpoints the end of the shard
// itself: the shard's children are not processed until their parent is
// checkpointed at its end.
func (r *ActionRunner) ShardEnded(ctx context.Context, t CheckpointTransport) error {
	return r.shardEnded(ctx, protocol.ActionShardEnded, t)
}

func (r *ActionRunner) shardEnded(ctx context.Context, action string, t CheckpointTransport) error {
	return r.run(ctx, action, true, t, func(ctx context.Context, cp *checkpointScope) error {
		if err := r.p.ShardEnded(ctx, ShardEndedInput{Checkpointer: cp}); err != nil {
			return err
		}
		if cp.checkpointedEnd() {
			return nil
		}
		r.log.Info().Msg("the processor did not checkpoint at shard end; checkpointing it")
		return cp.Checkpoint(ctx)
	})
}

// ShutdownRequested calls the processor's ShutdownRequested.
func (r *ActionRunner) ShutdownRequested(ctx context.Context, t CheckpointTransport) error {
	return r.run(ctx, protocol.ActionShutdownRequested, true, t, func(ctx context.Context, cp *checkpointScope) error {
		return r.p.ShutdownRequested(ctx, ShutdownRequestedInput{Checkpointer: cp})
	})
}

// LeaseLost calls the processor's LeaseLost. It has no Checkpointer: the
// lease is gone.
func (r *ActionRunner) LeaseLost(ctx context.Context) error {
	return r.leaseLost(ctx, protocol.ActionLeaseLost)
}

func (r *ActionRunner) leaseLost(ctx context.Context, action string) error {
	return r.run(ctx, action, false, nil, func(ctx context.Context, _ *checkpointScope) error {
		return r.p.LeaseLost(ctx, LeaseLostInput{})
	})
}

// run calls f for action, with a checkpoint scope on t when scoped,
// retrying as the processor retry policy allows, and ends the scope (once,
// waiting for a checkpoint in flight) before it returns.
func (r *ActionRunner) run(ctx context.Context, action string, scoped bool, t CheckpointTransport, f func(context.Context, *checkpointScope) error) (err error) {
	if r.p == nil {
		return &ActionError{Action: action, ShardID: r.shardID, Err: errNoProcessor}
	}
	if r.shard != nil {
		start := time.Now()
		defer func() { r.shard.Action(ctx, action, time.Since(start), errorType(err)) }()
	}
	actx, cancel := context.WithCancel(r.log.WithContext(ctx))
	defer cancel()
	var cp *checkpointScope
	if scoped {
		cp = newCheckpointScope(t, action, r, cancel)
	}
	err = r.attempts(ctx, actx, action, cp, f)
	if cp != nil {
		if b := cp.end(); b != nil {
			r.log.Error().Err(b).Str("action", action).Msg("checkpoints cannot go on; stopping without acknowledging the action")
			return b
		}
	}
	return err
}

// errNoProcessor is the error of an ActionRunner (or Run) without a
// processor.
var errNoProcessor = errors.New("kcl: no RecordProcessor (nil, or an ActionRunner not made by NewActionRunner)")

// attempts is run's retry loop. It returns nil, an *ActionError, or the
// transport's failure met during an attempt.
func (r *ActionRunner) attempts(ctx, actx context.Context, action string, cp *checkpointScope, f func(context.Context, *checkpointScope) error) error {
	policy := r.opts.processorRetry
	for attempt := 1; ; attempt++ {
		err := protect(actx, cp, f)
		if err == nil {
			return nil
		}
		if cp != nil {
			if b := cp.wait(); b != nil {
				return b // run logs and returns it
			}
		}
		ev := r.log.Error().Err(err).Str("action", action).Int("attempt", attempt)
		var pe *PanicError
		if errors.As(err, &pe) {
			ev = ev.Bytes("stack", pe.Stack)
		}
		r.shard.ProcessorError(ctx, action, errorType(&ActionError{Err: err}))
		if attempt >= policy.MaxAttempts || ctx.Err() != nil {
			ev.Msg("the record processor failed; giving up without acknowledging the action")
			return &ActionError{Action: action, ShardID: r.shardID, Attempts: attempt, Err: err}
		}
		ev.Msg("the record processor failed; retrying")
		if err := sleep(ctx, policy.backoff(attempt)); err != nil {
			return &ActionError{Action: action, ShardID: r.shardID, Attempts: attempt, Err: err}
		}
		r.shard.Retry(ctx, action)
	}
}

// protect calls f, turning a panic into a *PanicError. It is the one place
// where the processor's panics are recovered.
func protect(ctx context.Context, cp *checkpointScope, f func(context.Context, *checkpointScope) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f(ctx, cp)
}

// errorType classifies what an action returned for its metrics: "" for
// success, a panic or an error of the processor, or the transport's failure.
func errorType(err error) string {
	var ae *ActionError
	switch {
	case err == nil:
		return ""
	case !errors.As(err, &ae):
		return telemetry.ErrorTransport
	case errors.As(ae.Err, new(*PanicError)):
		return telemetry.ErrorPanic
	default:
		return telemetry.ErrorProcessor
	}
}
