package producer

import (
	"context"
	"go.opentelemetry.io/otel/metric"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/internal/kinesislimits"
)

// Service limits of PutRecords.
const (
	// MaxBatchRecords is the most entries one PutRecords call may carry.
	MaxBatchRecords = kinesislimits.MaxBatchRecords
	// MaxBatchBytes is the most bytes (data plus partition keys) one
	// PutRecords call may carry: 5 MiB.
	MaxBatchBytes = kinesislimits.MaxBatchBytes
	// MaxRecordSize is the largest record Kinesis accepts: 1 MiB of data
	// plus partition key.
	MaxRecordSize = kinesislimits.MaxRecordSize
)

// Client is the part of *kinesis.Client the producer uses. Tests may pass a
// fake.
type Client interface {
	// PutRecords sends a batch; the producer reads each result entry's
	// ErrorCode and ShardId.
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
	// ListShards lists the stream's shards, paginated by NextToken.
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// Config configures a Producer. Only StreamName (or StreamARN) is required;
// every other field documents its default, which its zero value selects.
type Config struct {
	// StreamName is the stream to put to. Required unless StreamARN is set.
	StreamName string
	// StreamARN is the stream's ARN, sent instead of StreamName when set.
	StreamARN string

	// DisableAggregation sends every user record as a plain Kinesis record.
	// Default false: records are aggregated (KPL format) per shard.
	DisableAggregation bool
	// AggregationMaxSize bounds the size of an aggregate in bytes, counted as
	// Kinesis counts it (data plus partition key). Zero means
	// deagg.KPLMaxSize (51200, the KPL's default); values above
	// MaxRecordSize (1 MiB) are lowered to it.
	AggregationMaxSize int
	// AggregationMaxCount bounds the user records per aggregate. Zero means
	// no bound (as the KPL's default of 4294967295).
	AggregationMaxCount int

	// Linger is how long a record may wait for more records to batch with
	// before it is sent. Zero means 500 ms (kinesis-python's buffer time);
	// a negative value means 1 ms.
	Linger time.Duration
	// BatchMaxRecords bounds the entries per PutRecords call. Zero means
	// MaxBatchRecords (500); larger values are lowered to it.
	BatchMaxRecords int
	// BatchMaxBytes bounds the bytes per PutRecords call (a call always
	// carries at least one entry, however large). Zero means MaxBatchBytes
	// (5 MiB); larger values are lowered to it.
	BatchMaxBytes int

	// MaxBufferedRecords bounds the user records Put but not yet delivered or
	// failed; Put blocks while it is reached. Zero means 100,000.
	MaxBufferedRecords int
	// MaxBufferedBytes bounds their bytes (data plus partition key); Put
	// blocks while it would be exceeded (a record always fits an empty
	// buffer). Zero means 64 MiB.
	MaxBufferedBytes int64
	// MaxInFlight bounds concurrent PutRecords calls (there is never more
	// than one per shard). Zero means 16.
	MaxInFlight int

	// RecordTTL is how long after Put a record may be retried: an attempt
	// that fails after it makes the record fail with ErrExpired (for an
	// aggregate, the TTL of its oldest user record counts). A record is never
	// failed before one attempt. Zero means 30 s (the KPL's record_ttl).
	RecordTTL time.Duration
	// RetryBaseDelay is the first retry's backoff; each further attempt
	// doubles it, with jitter (each wait between half and all of its
	// limit). A failed entry waits its own backoff, counted by its own
	// failures, while the rest of its shard goes on; throttling
	// (ProvisionedThroughputExceededException and the like) holds the whole
	// shard back, counted by its consecutive throttled calls. Zero means
	// 100 ms.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps the backoff. Zero means 3 s.
	RetryMaxDelay time.Duration
	// RequestTimeout bounds one PutRecords or ListShards call. For
	// PutRecords the producer turns the SDK client's retryer off (every
	// request is one attempt, retried by the producer); ListShards keeps the
	// client's retryer, inside this bound. Zero means 10 s.
	RequestTimeout time.Duration
	// ShardMapMinInterval is the least time between two shard-map refreshes,
	// which puts landing on a shard the map does not know trigger. Zero
	// means 1 s.
	ShardMapMinInterval time.Duration

	// OnFailure, when set, receives every record that finally fails. It is
	// called from the producer's goroutines, without locks held, and should
	// return quickly. When nil, failed records are kept and returned by
	// Close in its *CloseError.
	OnFailure func(*FailedRecord)
	// OnResult, when set, receives the outcome of every user record,
	// delivered or failed, with its Tag (see PutRecord), where Kinesis stored
	// it and every attempt. Same calling rules as OnFailure (which is still
	// called for failed records when both are set). When nil, no result is
	// built: the producer keeps only an attempt count per record.
	OnResult func(*Result)
	// OnBatch, when set, is called after every PutRecords call (a hook for a
	// metrics library). Same calling rules as OnFailure.
	OnBatch func(BatchInfo)
	// MeterProvider, when set, receives the producer's OpenTelemetry
	// metrics (see the README's table): user records put, delivered, failed
	// and retried by error code, Kinesis records sent, the aggregation
	// ratio, the buffer, and PutRecords durations. Default: nil, no metrics
	// (nothing global is used).
	MeterProvider metric.MeterProvider
}

// BatchInfo describes one PutRecords call, for Config.OnBatch.
type BatchInfo struct {
	// Entries is the number of Kinesis records sent; UserRecords the user
	// records in them; Bytes their size (data plus partition keys).
	Entries, UserRecords, Bytes int
	// Failed is the number of entries not accepted (all of them when Err is
	// set); they are retried or reported failed.
	Failed int
	// Duration is the call's latency.
	Duration time.Duration
	// Err is the call's error, nil when the call itself succeeded.
	Err error
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.AggregationMaxSize <= 0 {
		d.AggregationMaxSize = deagg.KPLMaxSize
	}
	d.AggregationMaxSize = min(d.AggregationMaxSize, MaxRecordSize)
	if d.AggregationMaxCount < 0 {
		d.AggregationMaxCount = 0
	}
	switch {
	case d.Linger == 0:
		d.Linger = 500 * time.Millisecond
	case d.Linger < 0:
		d.Linger = time.Millisecond
	}
	if d.BatchMaxRecords <= 0 || d.BatchMaxRecords > MaxBatchRecords {
		d.BatchMaxRecords = MaxBatchRecords
	}
	if d.BatchMaxBytes <= 0 || d.BatchMaxBytes > MaxBatchBytes {
		d.BatchMaxBytes = MaxBatchBytes
	}
	if d.MaxBufferedRecords <= 0 {
		d.MaxBufferedRecords = 100_000
	}
	if d.MaxBufferedBytes <= 0 {
		d.MaxBufferedBytes = 64 << 20
	}
	if d.MaxInFlight <= 0 {
		d.MaxInFlight = 16
	}
	if d.RecordTTL <= 0 {
		d.RecordTTL = 30 * time.Second
	}
	if d.RetryBaseDelay <= 0 {
		d.RetryBaseDelay = 100 * time.Millisecond
	}
	if d.RetryMaxDelay <= 0 {
		d.RetryMaxDelay = 3 * time.Second
	}
	if d.RequestTimeout <= 0 {
		d.RequestTimeout = 10 * time.Second
	}
	if d.ShardMapMinInterval <= 0 {
		d.ShardMapMinInterval = time.Second
	}
	return d
}
