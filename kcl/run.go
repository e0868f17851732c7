package kcl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/protocol"
)

// Run serves the daemon on stdin and stdout until the daemon closes stdin,
// then returns nil. It returns an error when the processor failed an action
// for good (see the package documentation), when the daemon's input is
// malformed or ends mid-line, or when ctx is cancelled. The error is also
// logged; main only has to exit non-zero:
//
//	if err := kcl.Run(ctx, p); err != nil {
//		os.Exit(1)
//	}
//
// Before serving, Run moves stdout out of harm's way (file descriptor 1 is
// pointed at stderr, the protocol keeps a private duplicate) and starts
// ignoring SIGINT and SIGTERM for at most the grace period of
// [WithShutdownGrace], so that the daemon can finish its graceful shutdown.
// When stdin is a terminal (the binary was started by hand), Run first prints
// one line on stderr saying what the program expects and how to try it.
func Run(ctx context.Context, p RecordProcessor, opts ...Option) error {
	o := newOptions(opts)
	log := o.log()
	hintIfTerminal(os.Stdin, os.Stderr)
	out, err := protectStdout()
	if err != nil {
		log.Error().Err(err).Msg("cannot protect stdout")
		return err
	}
	defer out.Close()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(serveCtx, p, os.Stdin, out, o, log) }()

	var grace <-chan time.Time
	for {
		select {
		case err := <-done:
			return err
		case sig := <-sigs:
			if grace == nil {
				log.Info().Str("signal", sig.String()).Dur("grace", o.grace).Msg("signal received; serving until the daemon closes stdin")
				grace = time.After(o.grace)
			}
		case <-grace:
			cancel()
			log.Error().Dur("grace", o.grace).Msg(ErrShutdownGraceExpired.Error())
			return ErrShutdownGraceExpired
		case <-ctx.Done():
			log.Error().Err(ctx.Err()).Msg("stopped by the context")
			return fmt.Errorf("kcl: %w", ctx.Err())
		}
	}
}

// Serve is [Run] over the given reader and writer, for tests and embedding:
// it neither touches the process's stdout nor handles signals. r carries the
// daemon's messages, w receives the child's. Serve returns when r ends; ctx
// is passed on to the processor, but a read blocked on r is not interrupted
// by it: close r to stop Serve.
func Serve(ctx context.Context, p RecordProcessor, r io.Reader, w io.Writer, opts ...Option) error {
	o := newOptions(opts)
	return serve(ctx, p, r, w, o, o.log())
}

// session is one conversation with the daemon. Only the goroutine running
// serve reads and writes the protocol; a Checkpointer does so on its behalf
// while the processor runs.
type session struct {
	dec     *protocol.Decoder
	enc     *protocol.Writer
	opts    options
	log     zerolog.Logger
	shardID string
	records []Record // reused across batches

	mu           sync.Mutex
	broken       error              // a protocol failure met during a checkpoint
	cancelAction context.CancelFunc // cancels the processor's context
}

// breakWith records a protocol failure that ends the conversation and
// returns it.
func (s *session) breakWith(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = err
		if s.cancelAction != nil {
			s.cancelAction() // the processor's records may no longer be valid
		}
	}
	return s.broken
}

// brokenErr returns the protocol failure that ended the conversation, if
// any.
func (s *session) brokenErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

func serve(ctx context.Context, p RecordProcessor, r io.Reader, w io.Writer, o options, log zerolog.Logger) error {
	s := &session{dec: protocol.NewDecoder(r), enc: protocol.NewWriter(w), opts: o, log: log}
	for {
		m, err := s.dec.Next()
		if err == io.EOF {
			s.log.Info().Msg("the daemon closed stdin; done")
			return nil
		}
		if err != nil {
			s.log.Error().Err(err).Msg("cannot read the daemon's message; stopping without an answer")
			return fmt.Errorf("kcl: reading from the daemon: %w", err)
		}
		if err := s.handle(ctx, p, m); err != nil {
			return err
		}
	}
}

// handle walks one message from the daemon to the processor and back: it
// builds the input, calls the processor (again on failure, as the retry
// policy allows), and answers with a status only if the processor succeeded.
func (s *session) handle(ctx context.Context, p RecordProcessor, m protocol.Message) error {
	action := m.Action()
	var cp *checkpointer
	var call func(context.Context) error
	switch m := m.(type) {
	case protocol.Initialize:
		s.shardID = m.ShardID
		s.log = s.log.With().Str("shard", m.ShardID).Logger()
		in := InitializeInput{ShardID: m.ShardID}
		if m.SequenceNumber != nil {
			in.SequenceNumber = *m.SequenceNumber
		}
		if m.SubSequenceNumber != nil {
			in.SubSequenceNumber = *m.SubSequenceNumber
		}
		call = func(ctx context.Context) error { return p.Initialize(ctx, in) }
	case protocol.ProcessRecords:
		cp = s.newCheckpointer(action)
		in := ProcessRecordsInput{Records: s.convert(m.Records), MillisBehindLatest: -1, Checkpointer: cp}
		if m.MillisBehindLatest != nil {
			in.MillisBehindLatest = *m.MillisBehindLatest
		}
		call = func(ctx context.Context) error { return p.ProcessRecords(ctx, in) }
	case protocol.ShardEnded:
		cp = s.newCheckpointer(action)
		call = shardEnded(p, cp)
	case protocol.ShutdownRequested:
		cp = s.newCheckpointer(action)
		call = func(ctx context.Context) error {
			return p.ShutdownRequested(ctx, ShutdownRequestedInput{Checkpointer: cp})
		}
	case protocol.LeaseLost:
		call = func(ctx context.Context) error { return p.LeaseLost(ctx, LeaseLostInput{}) }
	case protocol.Shutdown: // KCL 1.x
		switch m.Reason {
		case protocol.ReasonTerminate, "SHARD_END":
			cp = s.newCheckpointer(action)
			call = shardEnded(p, cp)
		default: // ZOMBIE, LEASE_LOST, or a reason we do not know: no checkpoint.
			if m.Reason != protocol.ReasonZombie && m.Reason != "LEASE_LOST" {
				s.log.Warn().Str("reason", m.Reason).Msg("unknown shutdown reason; treating it as a lost lease")
			}
			call = func(ctx context.Context) error { return p.LeaseLost(ctx, LeaseLostInput{}) }
		}
	case protocol.Checkpoint, protocol.Status:
		s.log.Warn().Str("action", action).Msg("unexpected message outside a checkpoint; ignored")
		return nil
	default:
		s.log.Warn().Str("action", action).Msg("unknown action from a newer daemon; acknowledged without processing")
	}
	if call != nil {
		err := s.call(ctx, action, call, cp)
		if cp != nil {
			cp.close()
		}
		if err != nil {
			return err
		}
	}
	if err := s.enc.Write(protocol.Status{ResponseFor: action}); err != nil {
		s.log.Error().Err(err).Msg("cannot answer the daemon")
		return fmt.Errorf("kcl: %w", err)
	}
	return nil
}

// shardEnded calls the processor's ShardEnded and then checkpoints the end
// of the shard if the processor did not: without it the daemon never starts
// the shard's children.
func shardEnded(p RecordProcessor, cp *checkpointer) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := p.ShardEnded(ctx, ShardEndedInput{Checkpointer: cp}); err != nil {
			return err
		}
		if cp.checkpointedEnd() {
			return nil
		}
		cp.s.log.Info().Msg("the processor did not checkpoint at shard end; checkpointing it")
		return cp.Checkpoint(ctx)
	}
}

// call runs the processor's method for action, retrying as the processor
// retry policy allows. It returns an *ActionError when every attempt failed,
// or the protocol failure that makes going on impossible.
//
// Before it reports success it closes cp (waiting for a checkpoint another
// goroutine may still have in flight), so that nothing is written to the
// daemon after the status.
func (s *session) call(ctx context.Context, action string, f func(context.Context) error, cp *checkpointer) error {
	pctx, cancel := context.WithCancel(s.log.WithContext(ctx))
	s.mu.Lock()
	s.cancelAction = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancelAction = nil
		s.mu.Unlock()
		cancel()
	}()
	policy := s.opts.processorRetry
	for attempt := 1; ; attempt++ {
		err := protect(pctx, f)
		if cp != nil {
			if err == nil {
				cp.close()
			} else {
				cp.quiesce()
			}
		}
		if b := s.brokenErr(); b != nil {
			s.log.Error().Err(b).Str("action", action).Msg("the conversation with the daemon broke; stopping without acknowledging the action")
			return b
		}
		if err == nil {
			return nil
		}
		ev := s.log.Error().Err(err).Str("action", action).Int("attempt", attempt)
		var pe *PanicError
		if errors.As(err, &pe) {
			ev = ev.Bytes("stack", pe.Stack)
		}
		if attempt >= policy.MaxAttempts || ctx.Err() != nil {
			ev.Msg("the record processor failed; giving up without acknowledging the action")
			return &ActionError{Action: action, ShardID: s.shardID, Attempts: attempt, Err: err}
		}
		ev.Msg("the record processor failed; retrying")
		if err := sleep(ctx, policy.backoff(attempt)); err != nil {
			return &ActionError{Action: action, ShardID: s.shardID, Attempts: attempt, Err: err}
		}
	}
}

// protect calls f, turning a panic into a *PanicError. It is the one place
// where the processor's panics are recovered.
func protect(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f(ctx)
}

// convert turns the protocol's records into the processor's, reusing the
// slice of the previous batch.
func (s *session) convert(in []protocol.Record) []Record {
	if cap(s.records) < len(in) {
		s.records = make([]Record, len(in))
	}
	out := s.records[:len(in)]
	// Records of a batch mostly share their arrival millisecond with the
	// previous one: reuse its time.Time.
	var lastMs int64
	var last time.Time
	for i := range in {
		r := &in[i]
		var ts time.Time
		if ms := r.ApproximateArrivalTimestamp; ms != 0 {
			if ms != lastMs {
				lastMs, last = ms, time.UnixMilli(ms)
			}
			ts = last
		}
		out[i] = Record{Data: r.Data, PartitionKey: r.PartitionKey, SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber, ApproximateArrivalTimestamp: ts}
	}
	return out
}
