package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kclgo/kclgo/internal/backoff"
	"github.com/kclgo/kclgo/protocol"
)

// RetrievalMode is how the worker reads a shard's records (the KCL's
// retrievalMode).
type RetrievalMode string

const (
	// RetrievalPolling reads with GetShardIterator and GetRecords every
	// IdleTimeBetweenReads, sharing the shard's 2 MB/s and 5 reads per
	// second with every other polling reader of the stream.
	RetrievalPolling RetrievalMode = "POLLING"
	// RetrievalFanOut reads with enhanced fan-out: a consumer registered
	// on the stream gets its own 2 MB/s per shard, pushed over
	// SubscribeToShard streams.
	RetrievalFanOut RetrievalMode = "FANOUT"
)

// FanOutAPI is the part of the Kinesis client enhanced fan-out uses besides
// [KinesisAPI]; the SDK's *kinesis.Client implements it.
type FanOutAPI interface {
	DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	DescribeStreamConsumer(context.Context, *kinesis.DescribeStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	RegisterStreamConsumer(context.Context, *kinesis.RegisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	SubscribeToShard(context.Context, *kinesis.SubscribeToShardInput, ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

// ErrFanOut matches the errors of an enhanced fan-out consumer that cannot
// be described, registered or made ACTIVE (a [*FanOutError]).
var ErrFanOut = errors.New("worker: enhanced fan-out consumer unavailable")

// FanOutError is why Run could not set up its enhanced fan-out consumer.
// errors.Is(err, ErrFanOut) holds; Unwrap returns the Kinesis error.
type FanOutError struct {
	// Op is the Kinesis operation that failed, e.g. "RegisterStreamConsumer".
	Op string
	// Permission is the IAM action the caller lacks, e.g.
	// "kinesis:RegisterStreamConsumer", when Kinesis denied access;
	// otherwise empty.
	Permission string
	// Consumer is the consumer's name or ARN.
	Consumer string
	// Err is the underlying error.
	Err error
}

func (e *FanOutError) Error() string {
	if e.Permission != "" {
		return fmt.Sprintf("worker: enhanced fan-out consumer %s: %s denied: the credentials lack the IAM permission %s (grant it, or set RetrievalMode POLLING, or FanOutFallbackToPolling): %v",
			e.Consumer, e.Op, e.Permission, e.Err)
	}
	return fmt.Sprintf("worker: enhanced fan-out consumer %s: %s: %v", e.Consumer, e.Op, e.Err)
}

// Unwrap returns the Kinesis error.
func (e *FanOutError) Unwrap() error { return e.Err }

// Is reports whether target is ErrFanOut.
func (e *FanOutError) Is(target error) bool { return target == ErrFanOut }

// How long registration waits for a consumer to become ACTIVE (AWS takes
// seconds, rarely a minute), and how long a subscription may stay silent
// (Kinesis sends an event at least every few seconds, records or not)
// before it is given up and renewed.
const (
	consumerActiveTimeout = 2 * time.Minute
	subscriptionIdle      = 30 * time.Second
)

// setupRetrieval registers (or finds) the enhanced fan-out consumer when
// cfg.RetrievalMode is FANOUT, and sets w.consumerARN; with it unset the
// consumers poll. A consumer that cannot be set up is an error, or, with
// FanOutFallbackToPolling, a warning and polling.
func (w *worker) setupRetrieval(ctx context.Context) error {
	cfg := &w.cfg
	if cfg.RetrievalMode != RetrievalFanOut {
		return nil
	}
	arn, err := registerConsumer(ctx, cfg.Kinesis.(FanOutAPI), cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // Run was cancelled meanwhile: it shuts down without leases
		}
		if cfg.FanOutFallbackToPolling {
			w.log.Warn().Err(err).Msg("enhanced fan-out unavailable; reading by polling (FanOutFallbackToPolling)")
			return nil
		}
		return err
	}
	w.consumerARN = arn
	w.log.Info().Str("consumer", arn).Msg("reading with enhanced fan-out")
	return nil
}

// retriever returns the consumer's way of reading its shard.
func (c *consumer) retriever() retriever {
	if c.w.consumerARN != "" {
		return &fanOut{c: c, api: c.w.cfg.Kinesis.(FanOutAPI), arn: c.w.consumerARN}
	}
	return &polling{c: c}
}

// registerConsumer returns the ARN of the ACTIVE consumer cfg names: the
// given ConsumerARN, or the consumer named ConsumerName on the stream,
// registered if absent and reused if present (the Java KCL's
// FanOutConsumerRegistration). Throttling is retried with back-off; a
// consumer not ACTIVE within consumerActiveTimeout is an error.
func registerConsumer(ctx context.Context, api FanOutAPI, cfg *Config) (string, error) {
	who := cfg.ConsumerARN
	if who == "" {
		who = cfg.ConsumerName
	}
	policy := backoff.Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second, Jitter: backoff.Equal}
	deadline := time.Now().Add(consumerActiveTimeout)
	attempt := 0
	// retry waits after a throttled or transient failure of op; it returns
	// the error to give up with, or nil to try again.
	retry := func(op string, err error) error {
		var nf *types.ResourceNotFoundException
		var inv *types.InvalidArgumentException
		if err != nil && (denied(err) || errors.As(err, &nf) || errors.As(err, &inv)) {
			return fanOutErr(op, who, err)
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("not ACTIVE after %s", consumerActiveTimeout)
			}
			return &FanOutError{Op: op, Consumer: who, Err: err}
		}
		attempt++
		if e := backoff.Sleep(ctx, policy.Delay(attempt)); e != nil {
			return &FanOutError{Op: op, Consumer: who, Err: e}
		}
		return nil
	}
	describe := func(in *kinesis.DescribeStreamConsumerInput) (*types.ConsumerDescription, error) {
		out, err := api.DescribeStreamConsumer(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.ConsumerDescription, nil
	}
	if cfg.ConsumerARN != "" {
		for {
			d, err := describe(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(cfg.ConsumerARN)})
			if err == nil && d.ConsumerStatus == types.ConsumerStatusActive {
				return cfg.ConsumerARN, nil
			}
			if err := retry("DescribeStreamConsumer", err); err != nil {
				return "", err
			}
		}
	}
	streamARN := cfg.StreamARN
	for streamARN == "" {
		out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(cfg.StreamName)})
		if err == nil {
			streamARN = aws.ToString(out.StreamDescriptionSummary.StreamARN)
			break
		}
		if err := retry("DescribeStreamSummary", err); err != nil {
			return "", err
		}
	}
	for {
		d, err := describe(&kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(cfg.ConsumerName)})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil && d.ConsumerStatus == types.ConsumerStatusActive:
			return aws.ToString(d.ConsumerARN), nil
		case err == nil: // CREATING, or DELETING (then registered again once gone)
		case errors.As(err, &nf):
			_, err = api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(cfg.ConsumerName)})
			var inUse *types.ResourceInUseException
			if err == nil || errors.As(err, &inUse) { // registered now, by us or by another worker
				continue
			}
			if err := retry("RegisterStreamConsumer", err); err != nil {
				return "", err
			}
			continue
		}
		if err := retry("DescribeStreamConsumer", err); err != nil {
			return "", err
		}
	}
}

// fanOut is the KCL's fan-out retrieval: SubscribeToShard from the
// checkpoint, then again from the last ContinuationSequenceNumber handed to
// the processor every time a subscription ends. An event is read from the
// stream only when the processor returned from the previous one
// (back-pressure: the SDK decodes at most one event ahead, the rest wait in
// the connection's flow control).
type fanOut struct {
	c   *consumer
	api FanOutAPI
	arn string

	stream   *kinesis.SubscribeToShardEventStream
	cancel   context.CancelFunc
	cont     string // ContinuationSequenceNumber of the last event handed to the processor
	pending  string // that of the event the last fetch returned
	failures int
	events   int // events of the current subscription
}

func (f *fanOut) fetch(from position) (fetched, bool) {
	c := f.c
	if f.pending != "" { // the consumer came back: the processor has it
		f.cont, f.pending = f.pending, ""
	}
	policy := backoff.Policy{Initial: 500 * time.Millisecond, Max: 10 * time.Second, Jitter: backoff.Equal}
	for {
		if f.stream == nil && !f.subscribe(from, policy) {
			return fetched{}, false
		}
		idle := time.NewTimer(subscriptionIdle)
		select {
		case ev, ok := <-f.stream.Events():
			idle.Stop()
			if !ok {
				err := f.stream.Err()
				f.Close()
				if c.lostNow() {
					return fetched{}, false
				}
				if err == nil && f.events > 0 {
					c.log.Info().Str("after", f.cont).Msg("subscription ended; subscribing again")
					continue
				}
				if err == nil {
					err = errors.New("the subscription ended before its first event")
				}
				f.failures++
				c.log.Info().Err(err).Int("attempt", f.failures).Msg("subscription failed; subscribing again")
				if !c.pause(policy.Delay(f.failures)) {
					return fetched{}, false
				}
				continue
			}
			e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
			if !ok {
				continue // an event type this SDK does not know
			}
			f.failures = 0
			f.events++
			v := &e.Value
			c.h.tel.Event(c.ctx, len(v.Records))
			c.h.tel.BehindLatest(c.ctx, v.MillisBehindLatest) // also for an event the processor never sees
			end := v.ContinuationSequenceNumber == nil
			f.pending = aws.ToString(v.ContinuationSequenceNumber)
			if end {
				f.Close()
			}
			return fetched{records: v.Records, millisBehind: v.MillisBehindLatest, end: end, children: v.ChildShards}, true
		case <-idle.C:
			c.log.Warn().Dur("silent", subscriptionIdle).Msg("no event on the subscription; subscribing again")
			f.Close()
		case <-c.h.lostCh:
			idle.Stop()
			f.Close()
			c.lostNow()
			return fetched{}, false
		case <-c.h.stopCh:
			idle.Stop()
			f.Close()
			return fetched{}, !c.stopRequested()
		}
	}
}

// subscribe opens a subscription: after the last ContinuationSequenceNumber
// handed to the processor, or at from (AT_SEQUENCE_NUMBER; the sentinels'
// own starting positions), retrying ResourceInUseException (the previous
// subscription is still open for a few seconds), throttling and other
// failures with back-off and jitter. It returns false when the consumer
// must stop.
func (f *fanOut) subscribe(from position, policy backoff.Policy) bool {
	c := f.c
	pos := &types.StartingPosition{}
	switch {
	case f.cont != "":
		pos.Type, pos.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(f.cont)
	case from.seq == protocol.SentinelTrimHorizon || from.seq == "":
		pos.Type = types.ShardIteratorTypeTrimHorizon
	case from.seq == protocol.SentinelLatest:
		pos.Type = types.ShardIteratorTypeLatest
	case from.seq == protocol.SentinelAtTimestamp:
		pos.Type, pos.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(c.w.cfg.InitialTimestamp)
	default:
		pos.Type, pos.SequenceNumber = types.ShardIteratorTypeAtSequenceNumber, aws.String(from.seq)
	}
	for {
		ctx, cancel := context.WithCancel(c.ctx)
		start := time.Now()
		out, err := f.api.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(f.arn), ShardId: aws.String(c.h.key), StartingPosition: pos})
		c.h.tel.Subscribe(c.ctx, time.Since(start), err, err != nil && isThrottle(err))
		if err == nil {
			f.stream, f.cancel, f.events = out.GetStream(), cancel, 0
			c.log.Debug().Str("type", string(pos.Type)).Str("at", aws.ToString(pos.SequenceNumber)).Msg("subscribed")
			return true
		}
		cancel()
		if c.lostNow() {
			return false
		}
		f.failures++
		var inUse *types.ResourceInUseException
		switch {
		case errors.As(err, &inUse):
			c.log.Debug().Err(err).Int("attempt", f.failures).Msg("the previous subscription is still open; retrying")
		case isThrottle(err):
			c.log.Info().Err(err).Int("attempt", f.failures).Msg("SubscribeToShard throttled; backing off")
		case denied(err):
			c.log.Error().Err(err).Str("permission", "kinesis:SubscribeToShard").Msg("SubscribeToShard denied: grant the IAM permission kinesis:SubscribeToShard on the consumer; retrying")
		default:
			c.log.Warn().Err(err).Int("attempt", f.failures).Msg("SubscribeToShard failed; backing off")
		}
		if !c.pause(policy.Delay(f.failures)) {
			return false
		}
	}
}

// Close ends the current subscription, if any.
func (f *fanOut) Close() error {
	if f.stream != nil {
		_ = f.stream.Close()
		f.stream = nil
	}
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
	}
	return nil
}

// deregisterAPI is what DeregisterConsumer needs of the Kinesis client.
type deregisterAPI interface {
	DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	DeregisterStreamConsumer(context.Context, *kinesis.DeregisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
}

// DeregisterConsumer deregisters the enhanced fan-out consumer that cfg
// names: cfg.ConsumerARN, or cfg.ConsumerName (default: cfg.ApplicationName)
// on cfg.StreamARN or cfg.StreamName. Run never deregisters: a registered
// consumer is shared by every worker of the application and outlives each
// of them (AWS bills it per shard-hour while it exists). Call this when the
// application is retired, or moves back to polling. Open subscriptions of
// the consumer end; a consumer that does not exist is not an error.
// cfg.Kinesis must also have DeregisterStreamConsumer (the SDK's
// *kinesis.Client has).
func DeregisterConsumer(ctx context.Context, cfg Config) error {
	api, ok := cfg.Kinesis.(deregisterAPI)
	if !ok {
		return fmt.Errorf("%w: Kinesis (%T) has no DeregisterStreamConsumer", ErrConfig, cfg.Kinesis)
	}
	in := &kinesis.DeregisterStreamConsumerInput{}
	who := cfg.ConsumerARN
	if cfg.ConsumerARN != "" {
		in.ConsumerARN = aws.String(cfg.ConsumerARN)
	} else {
		name := cfg.ConsumerName
		if name == "" {
			name = cfg.ApplicationName
		}
		if name == "" || (cfg.StreamARN == "" && cfg.StreamName == "") {
			return fmt.Errorf("%w: DeregisterConsumer needs ConsumerARN, or a StreamName or StreamARN with ConsumerName or ApplicationName", ErrConfig)
		}
		who = name
		in.ConsumerName, in.StreamARN = aws.String(name), aws.String(cfg.StreamARN)
		if cfg.StreamARN == "" {
			out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(cfg.StreamName)})
			if err != nil {
				return fanOutErr("DescribeStreamSummary", who, err)
			}
			in.StreamARN = out.StreamDescriptionSummary.StreamARN
		}
	}
	_, err := api.DeregisterStreamConsumer(ctx, in)
	var nf *types.ResourceNotFoundException
	if err == nil || errors.As(err, &nf) {
		return nil
	}
	return fanOutErr("DeregisterStreamConsumer", who, err)
}

// fanOutErr wraps err of op in a *FanOutError, naming the permission when
// access was denied.
func fanOutErr(op, who string, err error) error {
	e := &FanOutError{Op: op, Consumer: who, Err: err}
	if denied(err) {
		e.Permission = "kinesis:" + op
	}
	return e
}

// denied reports whether err is AWS refusing access (a missing IAM
// permission).
func denied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "AccessDenied")
}
