package kcl

import (
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Option configures [Run] and [Serve].
type Option func(*options)

type options struct {
	logger          *zerolog.Logger
	level           *zerolog.Level
	processorRetry  RetryPolicy
	checkpointRetry RetryPolicy
	grace           time.Duration
	stderr          io.Writer
	meterProvider   metric.MeterProvider
	metricAttrs     []attribute.KeyValue
}

// LogLevelEnv is the environment variable that sets the log level when no
// [WithLogLevel] option is given: debug, info, warn or error.
const LogLevelEnv = "KCLGO_LOG_LEVEL"

func newOptions(opts []Option) options {
	o := options{
		processorRetry:  DefaultProcessorRetry(),
		checkpointRetry: DefaultCheckpointRetry(),
		grace:           60 * time.Second,
		stderr:          os.Stderr,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// log returns the logger to use: the one given, or a JSON logger on stderr,
// at the level given by option, else by $KCLGO_LOG_LEVEL, else info.
func (o *options) log() zerolog.Logger {
	var l zerolog.Logger
	if o.logger != nil {
		l = *o.logger
	} else {
		l = zerolog.New(o.stderr).With().Timestamp().Logger()
	}
	switch {
	case o.level != nil:
		l = l.Level(*o.level)
	case os.Getenv(LogLevelEnv) != "":
		if lvl, err := zerolog.ParseLevel(strings.ToLower(os.Getenv(LogLevelEnv))); err == nil {
			l = l.Level(lvl)
		}
	case o.logger == nil:
		l = l.Level(zerolog.InfoLevel)
	}
	return l
}

// DefaultLogger returns the logger Run uses when no [WithLogger] is given:
// JSON lines on stderr with a timestamp, at the level of $KCLGO_LOG_LEVEL
// (debug, info, warn, error), else info. The native worker uses it too.
func DefaultLogger() zerolog.Logger {
	o := newOptions(nil)
	return o.log()
}

// WithLogger sets the logger. It must write to stderr or a file, never to
// stdout, which belongs to the protocol. Default: JSON lines on stderr.
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) { o.logger = &l }
}

// WithLogLevel sets the log level; it overrides $KCLGO_LOG_LEVEL. Default:
// info.
func WithLogLevel(level zerolog.Level) Option {
	return func(o *options) { o.level = &level }
}

// WithProcessorRetry sets how a failed (erroring or panicking) processor
// action is retried before Run gives up and returns an error. Default:
// [DefaultProcessorRetry]. MaxAttempts 1 means no retry.
func WithProcessorRetry(p RetryPolicy) Option {
	return func(o *options) { o.processorRetry = p }
}

// WithCheckpointRetry sets how a checkpoint refused with ThrottlingException
// or KinesisClientLibDependencyException is retried before the Checkpointer
// returns the error. Default: [DefaultCheckpointRetry]. Other refusals are
// never retried.
func WithCheckpointRetry(p RetryPolicy) Option {
	return func(o *options) { o.checkpointRetry = p }
}

// WithShutdownGrace bounds how long [Run] keeps serving after SIGINT or
// SIGTERM, waiting for the daemon's graceful shutdown to close stdin. When
// it expires Run cancels the processor's context and returns
// [ErrShutdownGraceExpired]. Default: 60 s; set it above the daemon's
// failoverTimeMillis.
func WithShutdownGrace(d time.Duration) Option {
	return func(o *options) { o.grace = d }
}

// WithMeterProvider makes [Run], [Serve] and an [ActionRunner] record
// OpenTelemetry metrics with mp: records, bytes and durations of the
// processor's methods, its errors and retries, the shard's
// millisBehindLatest, checkpoints, their durations and refusals (the
// README's table lists every instrument). Default: nil, no metrics (and
// nothing global: the otel package's global provider is not used). Under the
// daemon each shard is its own child process: export with a push exporter
// (OTLP), not a scrape endpoint.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.meterProvider = mp }
}

// WithMetricAttributes adds attributes to every measurement of
// [WithMeterProvider], e.g. the stream and application under the daemon
// (the child is not told them): attribute.String("kcl.stream.name", s).
// Keep their values few (no sequence numbers, no partition keys): each
// distinct set is a time series. Default: none; the native worker sets the
// stream, application and worker id itself.
func WithMetricAttributes(attrs ...attribute.KeyValue) Option {
	return func(o *options) { o.metricAttrs = append(o.metricAttrs, attrs...) }
}
