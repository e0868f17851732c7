package kcl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
// Run changes the process while it serves, and undoes what it can when it
// returns, whatever the reason:
//
//   - Stdout: file descriptor 1 is pointed at stderr and the protocol keeps
//     a private duplicate of it (where descriptors cannot be duplicated,
//     only the os.Stdout variable is swapped for os.Stderr). On return,
//     descriptor 1 (or os.Stdout) is pointed back at the original stdout
//     and the duplicate is closed (at once, or when a write to it still
//     under way returns).
//   - Signals: SIGINT and SIGTERM are caught (see [WithShutdownGrace]); on
//     return Run stops catching them (signal.Stop), which restores their
//     default behaviour unless other code of the process catches them too.
//   - Stdin cannot be given back. When Run returns because ctx was
//     cancelled or the grace period expired, the goroutine that serves the
//     daemon may still be blocked reading os.Stdin (a read of it cannot be
//     interrupted), or still inside a processor method that ignores its
//     cancelled context. That goroutine ends at the next input or end of
//     input: it starts no processor method for what it reads after Run
//     returned and writes nothing more to the daemon, but what it reads is
//     lost. So after such a return, neither read os.Stdin nor call Run again
//     in the same process; exit, as main does.
//
// When stdin is a terminal (the binary was started by hand), Run first prints
// one line on stderr saying what the program expects and how to try it.
func Run(ctx context.Context, p RecordProcessor, opts ...Option) (err error) {
	o := newOptions(opts)
	log := o.log()
	hintIfTerminal(os.Stdin, os.Stderr)
	out, restore, err := protectStdout()
	if err != nil {
		log.Error().Err(err).Msg("cannot protect stdout")
		return err
	}
	defer func() {
		if rerr := restore(); rerr != nil {
			log.Error().Err(rerr).Msg("cannot restore stdout")
			if err == nil {
				err = rerr
			}
		}
	}()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// Cancelling serveCtx, at the latest when Run returns, also stops the
	// serving goroutine at its next message (see the doc comment).
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(serveCtx, p, os.Stdin, out, o, log, serveCtx.Done()) }()

	stopped := func() error {
		log.Error().Err(ctx.Err()).Msg("stopped by the context")
		return fmt.Errorf("kcl: %w", ctx.Err())
	}
	var grace <-chan time.Time
	for {
		select {
		case err := <-done:
			if err == errRunReturned {
				return stopped() // serve saw ctx cancelled before this select did
			}
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
			return stopped()
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
	return serve(ctx, p, r, w, o, o.log(), nil)
}

// session is one conversation with the daemon. Only the goroutine running
// serve reads and writes the protocol; the Checkpointer of an action does so
// on its behalf, through SendCheckpoint, while the processor runs.
type session struct {
	dec     *protocol.Decoder
	enc     *protocol.Writer
	run     *ActionRunner
	records []Record        // reused across batches
	stop    <-chan struct{} // closed when Run stops serving; nil for Serve
}

// stopped reports whether Run stopped serving (its context is done, or it
// returned): the session must neither call the processor nor write to the
// daemon any more.
func (s *session) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// serve reads the daemon's messages from r and answers on w until r ends.
// Once stop is closed (nil: never), it handles no further message and writes
// nothing more.
func serve(ctx context.Context, p RecordProcessor, r io.Reader, w io.Writer, o options, log zerolog.Logger, stop <-chan struct{}) error {
	s := &session{dec: protocol.NewDecoder(r), enc: protocol.NewWriter(w), run: newActionRunner(p, o, log), stop: stop}
	for {
		m, err := s.dec.Next()
		if s.stopped() {
			return errRunReturned // what was read is dropped
		}
		if err == io.EOF {
			s.run.log.Info().Msg("the daemon closed stdin; done")
			return nil
		}
		if err != nil {
			s.run.log.Error().Err(err).Msg("cannot read the daemon's message; stopping without an answer")
			return fmt.Errorf("kcl: reading from the daemon: %w", err)
		}
		if err := s.handle(ctx, m); err != nil {
			return err
		}
	}
}

// errRunReturned ends the goroutine serving the daemon after Run returned.
var errRunReturned = errors.New("kcl: Run returned")

// handle walks one message from the daemon to the processor and back: it
// builds the input, has the action runner call the processor (again on
// failure, as the retry policy allows), and answers with a status only if
// the processor succeeded.
func (s *session) handle(ctx context.Context, m protocol.Message) error {
	action := m.Action()
	var err error
	switch m := m.(type) {
	case protocol.Initialize:
		in := InitializeInput{ShardID: m.ShardID}
		if m.SequenceNumber != nil {
			in.SequenceNumber = *m.SequenceNumber
		}
		if m.SubSequenceNumber != nil {
			in.SubSequenceNumber = *m.SubSequenceNumber
		}
		err = s.run.Initialize(ctx, in)
	case protocol.ProcessRecords:
		in := ProcessRecordsInput{Records: s.convert(m.Records), MillisBehindLatest: -1}
		if m.MillisBehindLatest != nil {
			in.MillisBehindLatest = *m.MillisBehindLatest
		}
		err = s.run.ProcessRecords(ctx, in, s)
	case protocol.ShardEnded:
		err = s.run.shardEnded(ctx, action, s)
	case protocol.ShutdownRequested:
		err = s.run.ShutdownRequested(ctx, s)
	case protocol.LeaseLost:
		err = s.run.leaseLost(ctx, action)
	case protocol.Shutdown: // KCL 1.x
		switch m.Reason {
		case protocol.ReasonTerminate, protocol.ReasonShardEnd:
			err = s.run.shardEnded(ctx, action, s)
		default: // ZOMBIE, LEASE_LOST, or a reason we do not know: no checkpoint.
			if m.Reason != protocol.ReasonZombie && m.Reason != protocol.ReasonLeaseLost {
				s.run.log.Warn().Str("reason", m.Reason).Msg("unknown shutdown reason; treating it as a lost lease")
			}
			err = s.run.leaseLost(ctx, action)
		}
	case protocol.Checkpoint, protocol.Status:
		s.run.log.Warn().Str("action", action).Msg("unexpected message outside a checkpoint; ignored")
		return nil
	default:
		s.run.log.Warn().Str("action", action).Msg("unknown action from a newer daemon; acknowledged without processing")
	}
	if err != nil {
		return err
	}
	if s.stopped() {
		return errRunReturned
	}
	if err := s.enc.Write(protocol.Status{ResponseFor: action}); err != nil {
		s.run.log.Error().Err(err).Msg("cannot answer the daemon")
		return fmt.Errorf("kcl: %w", err)
	}
	return nil
}

// SendCheckpoint implements [CheckpointTransport] for the daemon: it sends
// one checkpoint request and reads the daemon's reply, returning the reply's
// error name ("" on success). A failure to talk to the daemon is an
// ErrProtocol: the conversation cannot go on. The round trip is not
// abandoned when ctx is done (that would break the protocol).
func (s *session) SendCheckpoint(_ context.Context, pos *Position) (string, error) {
	if s.stopped() {
		return "", fmt.Errorf("%w: not sending a checkpoint: %w", ErrProtocol, errRunReturned)
	}
	req := protocol.Checkpoint{}
	if pos != nil {
		req.SequenceNumber, req.SubSequenceNumber = &pos.SequenceNumber, &pos.SubSequenceNumber
	}
	if err := s.enc.Write(req); err != nil {
		return "", fmt.Errorf("%w: sending a checkpoint: %w", ErrProtocol, err)
	}
	m, err := s.dec.Next()
	if err != nil {
		return "", fmt.Errorf("%w: waiting for the daemon's checkpoint reply: %w", ErrProtocol, err)
	}
	reply, ok := m.(protocol.Checkpoint)
	if !ok {
		return "", fmt.Errorf("%w: line %d: expected the daemon's checkpoint reply, got %q", ErrProtocol, s.dec.Line(), m.Action())
	}
	return reply.Error, nil
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
