package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// KinesisAPI is the part of the Kinesis client the worker uses; the SDK's
// *kinesis.Client implements it.
type KinesisAPI interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Config configures [Run]. StreamName, ApplicationName, Kinesis and DynamoDB
// are required; every other field has a default, used when the field is
// zero. Where a field has a Java KCL counterpart its property name (as in a
// MultiLangDaemon properties file) is given: the defaults are the KCL 2.x
// defaults unless said otherwise.
type Config struct {
	// StreamName is the stream to consume (streamName). Required.
	StreamName string
	// StreamARN, if set, is used instead of the name in Kinesis calls
	// (streamArn). Default: none.
	StreamARN string
	// ApplicationName names the application, and so the DynamoDB lease
	// table, shared with every Java or Go worker of the application
	// (applicationName). Required.
	ApplicationName string
	// WorkerID identifies this worker in the lease table's leaseOwner
	// (workerId). It must be unique among the application's workers.
	// Default: the host name, "-", and a random suffix, as the KCL does.
	WorkerID string
	// Kinesis is the Kinesis client, e.g. kinesis.NewFromConfig(cfg) (set
	// BaseEndpoint for an emulator). Required.
	Kinesis KinesisAPI
	// DynamoDB is the DynamoDB client for the lease table. Required.
	DynamoDB DynamoDBAPI

	// InitialPosition is where a shard without a checkpoint starts
	// (initialPositionInStream): protocol.SentinelTrimHorizon,
	// protocol.SentinelLatest or protocol.SentinelAtTimestamp. It only
	// applies to leases this worker creates for shards without parents in
	// the stream; a child shard always starts at its beginning. Default:
	// LATEST, as the KCL.
	InitialPosition string
	// InitialTimestamp is the start for AT_TIMESTAMP
	// (initialPositionInStreamExtended). Required with AT_TIMESTAMP.
	InitialTimestamp time.Time

	// FailoverTime is how long a lease's counter may stay unchanged before
	// other workers take it (failoverTimeMillis). Leases are renewed every
	// FailoverTime/3 and the table is scanned for leases to take every
	// FailoverTime/2 (the Java KCL scans every 2 × (failover + 25 ms);
	// scanning more often bounds the takeover of a dead worker's leases by
	// 2 × FailoverTime plus a renewal interval). Default: 10 s.
	FailoverTime time.Duration
	// MaxLeasesForWorker caps the leases this worker holds
	// (maxLeasesForWorker). Default: no cap.
	MaxLeasesForWorker int
	// MaxLeasesToStealAtOneTime caps the leases taken from a more loaded
	// worker per scan (maxLeasesToStealAtOneTime). Default: 1.
	MaxLeasesToStealAtOneTime int
	// ShardSyncInterval is how often the worker lists the stream's shards
	// and creates leases for new ones (shardSyncIntervalMillis). Default:
	// 60 s.
	ShardSyncInterval time.Duration
	// CompletedLeaseCleanupInterval is how often the worker deletes the
	// leases it holds of shards that ended once every child has started
	// (its checkpoint moved past the start), as the Java KCL's lease
	// cleanup does (completedLeaseCleanupIntervalMillis). Default: 5 min.
	CompletedLeaseCleanupInterval time.Duration
	// ParentShardPollInterval is how often a child shard checks whether its
	// parents have ended (parentShardPollIntervalMillis). Default: 10 s.
	ParentShardPollInterval time.Duration

	// RetrievalMode is how records are read (retrievalMode):
	// RetrievalFanOut, enhanced fan-out (SubscribeToShard through a
	// registered consumer: its own 2 MB/s per shard, records pushed), or
	// RetrievalPolling (GetRecords). Default: FANOUT when ConsumerName or
	// ConsumerARN is set, else POLLING. (The Java KCL 2.x/3.x defaults to
	// FANOUT with applicationName as the consumer name; here fan-out, a
	// consumer AWS bills per shard-hour, is chosen by naming one or by
	// setting FANOUT, which then names it ApplicationName as the KCL does.)
	// Kinesis must then also implement FanOutAPI.
	RetrievalMode RetrievalMode
	// ConsumerName names the enhanced fan-out consumer on the stream
	// (consumerName): registered if absent, reused if present, waited for
	// until ACTIVE. Default: ApplicationName with FANOUT; none otherwise.
	ConsumerName string
	// ConsumerARN is an enhanced fan-out consumer registered beforehand
	// (consumerArn): used as is, never registered. Default: none.
	ConsumerARN string
	// FanOutFallbackToPolling reads by polling when the fan-out consumer
	// cannot be described or registered at start (e.g. the credentials
	// lack kinesis:RegisterStreamConsumer). No KCL counterpart. Default
	// false: Run returns the *FanOutError, which names the missing
	// permission.
	FanOutFallbackToPolling bool

	// IdleTimeBetweenReads is the wait between two GetRecords calls on a
	// shard, when polling (idleTimeBetweenReadsInMillis). Default: 1 s. Kinesis allows 5
	// calls per second per shard, shared by every consumer of the stream.
	IdleTimeBetweenReads time.Duration
	// MaxRecords is the most records one GetRecords call returns
	// (maxRecords). Default: 10,000, the Kinesis maximum.
	MaxRecords int32
	// CallProcessRecordsEvenForEmptyRecordList calls ProcessRecords for a
	// GetRecords call that returned no records
	// (callProcessRecordsEvenForEmptyRecordList). It gives a processor that
	// finishes records later, such as kcl.Concurrent, regular moments to
	// checkpoint on an idle shard. Default: false.
	CallProcessRecordsEvenForEmptyRecordList bool

	// ProcessorRetry is how a failed processor action is retried before the
	// shard's lease is released unacknowledged. Default:
	// kcl.DefaultProcessorRetry().
	ProcessorRetry kcl.RetryPolicy
	// CheckpointRetry is how a throttled or failed checkpoint write is
	// retried before the Checkpointer returns the error. Default:
	// kcl.DefaultCheckpointRetry().
	CheckpointRetry kcl.RetryPolicy
	// ShutdownTimeout bounds ShutdownRequested of every processor when the
	// context passed to Run is cancelled. Default: 30 s.
	ShutdownTimeout time.Duration

	// MeterProvider, if set, receives the worker's OpenTelemetry metrics:
	// leases held, taken, stolen and lost, renewal failures, GetRecords
	// durations, throttles and records per call, millisBehindLatest, and
	// the processing metrics of every shard's processor (as
	// kcl.WithMeterProvider); each with the stream, application and worker
	// id (kcl.stream.name, kcl.application.name, kcl.worker.id) and, where
	// it applies, the shard id. The README lists every instrument; one
	// native worker is one process: a Prometheus scrape endpoint suits it.
	// Default: nil, no metrics (the otel package's global provider is not
	// used).
	MeterProvider metric.MeterProvider

	// Logger receives the worker's logs, with worker and shard ids.
	// Default: JSON lines on stderr at info level ($KCLGO_LOG_LEVEL
	// overrides the level).
	Logger *zerolog.Logger
}

// ErrConfig matches the errors of an invalid Config.
var ErrConfig = errors.New("worker: invalid config")

// withDefaults returns c with every zero field set to its default, or an
// error naming the first field that is wrong.
func (c Config) withDefaults() (Config, error) {
	var missing []string
	if c.StreamName == "" {
		missing = append(missing, "StreamName")
	}
	if c.ApplicationName == "" {
		missing = append(missing, "ApplicationName")
	}
	if c.Kinesis == nil {
		missing = append(missing, "Kinesis")
	}
	if c.DynamoDB == nil {
		missing = append(missing, "DynamoDB")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("%w: missing %s", ErrConfig, strings.Join(missing, ", "))
	}
	if !validName(c.StreamName, 1, 128) {
		return c, fmt.Errorf("%w: StreamName %q: want 1 to 128 letters, digits, '_', '-' or '.'", ErrConfig, c.StreamName)
	}
	if !validName(c.ApplicationName, 3, 255) {
		return c, fmt.Errorf("%w: ApplicationName %q names the DynamoDB lease table: want 3 to 255 letters, digits, '_', '-' or '.'", ErrConfig, c.ApplicationName)
	}
	switch c.InitialPosition {
	case "":
		c.InitialPosition = protocol.SentinelLatest
	case protocol.SentinelLatest, protocol.SentinelTrimHorizon:
	case protocol.SentinelAtTimestamp:
		if c.InitialTimestamp.IsZero() {
			return c, fmt.Errorf("%w: InitialPosition AT_TIMESTAMP needs InitialTimestamp", ErrConfig)
		}
	default:
		return c, fmt.Errorf("%w: InitialPosition %q: want TRIM_HORIZON, LATEST or AT_TIMESTAMP", ErrConfig, c.InitialPosition)
	}
	switch c.RetrievalMode {
	case "":
		c.RetrievalMode = RetrievalPolling
		if c.ConsumerName != "" || c.ConsumerARN != "" {
			c.RetrievalMode = RetrievalFanOut
		}
	case RetrievalPolling, RetrievalFanOut:
	default:
		return c, fmt.Errorf("%w: RetrievalMode %q: want FANOUT or POLLING", ErrConfig, c.RetrievalMode)
	}
	if c.RetrievalMode == RetrievalFanOut {
		if c.ConsumerName == "" && c.ConsumerARN == "" {
			c.ConsumerName = c.ApplicationName
		}
		if _, ok := c.Kinesis.(FanOutAPI); !ok {
			return c, fmt.Errorf("%w: RetrievalMode FANOUT: Kinesis (%T) does not implement FanOutAPI (SubscribeToShard and the consumer calls)", ErrConfig, c.Kinesis)
		}
		if c.ConsumerARN == "" && !validName(c.ConsumerName, 1, 128) {
			return c, fmt.Errorf("%w: ConsumerName %q: want 1 to 128 letters, digits, '_', '-' or '.'", ErrConfig, c.ConsumerName)
		}
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "worker"
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.WorkerID = host + "-" + hex.EncodeToString(b[:])
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("%w: %s is negative (%s)", ErrConfig, name, *d)
		}
		if *d == 0 {
			*d = v
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&c.FailoverTime, 10 * time.Second, "FailoverTime"},
		{&c.ShardSyncInterval, time.Minute, "ShardSyncInterval"},
		{&c.CompletedLeaseCleanupInterval, 5 * time.Minute, "CompletedLeaseCleanupInterval"},
		{&c.ParentShardPollInterval, 10 * time.Second, "ParentShardPollInterval"},
		{&c.IdleTimeBetweenReads, time.Second, "IdleTimeBetweenReads"},
		{&c.ShutdownTimeout, 30 * time.Second, "ShutdownTimeout"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return c, err
		}
	}
	if c.MaxLeasesForWorker <= 0 {
		c.MaxLeasesForWorker = 1 << 30
	}
	if c.MaxLeasesToStealAtOneTime <= 0 {
		c.MaxLeasesToStealAtOneTime = 1
	}
	if c.MaxRecords <= 0 || c.MaxRecords > 10000 {
		c.MaxRecords = 10000
	}
	if c.ProcessorRetry == (kcl.RetryPolicy{}) {
		c.ProcessorRetry = kcl.DefaultProcessorRetry()
	}
	if c.CheckpointRetry == (kcl.RetryPolicy{}) {
		c.CheckpointRetry = kcl.DefaultCheckpointRetry()
	}
	if c.Logger == nil {
		l := kcl.DefaultLogger()
		c.Logger = &l
	}
	return c, nil
}

// validName reports whether s is a valid Kinesis stream or DynamoDB table
// name: min to max characters of [a-zA-Z0-9_.-].
func validName(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
