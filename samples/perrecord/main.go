// Command perrecord is a kclpy-style record processor: a handler called once
// per record, with a checkpoint policy (every N records or every T, whichever
// comes first). The same binary runs either way:
//
//   - under Amazon's MultiLangDaemon: name the binary as executableName in the
//     daemon's properties file (no flags);
//   - natively, without Java: perrecord -native -stream S -app A [flags], one
//     process for every shard, sharing the Java KCL's lease table (see
//     package worker); -retrieval fanout -consumer NAME reads with enhanced
//     fan-out. perrecord -native -h lists the flags.
//
// Metrics (OpenTelemetry; none without these flags):
//
//	-otlp URL        push over OTLP/HTTP every 10 s, e.g. http://127.0.0.1:4318/v1/metrics (either way;
//	                 under the daemon: executableName = /path/perrecord -otlp URL)
//	-prometheus ADDR serve /metrics on ADDR, e.g. 127.0.0.1:9464 (with -native only)
//
// Environment:
//
//	KCLGO_CHECKPOINT_EVERY    records between checkpoints (default 1000)
//	KCLGO_CHECKPOINT_SECONDS  seconds between checkpoints (default 60; both 0: every batch)
//	KCLGO_RECORD_LOG          append what was processed to this file (see samples/internal/recordlog)
//	KCLGO_SAMPLE_FAIL_BATCH   make the N-th batch of this process fail (for tests)
//	KCLGO_SAMPLE_SLEEP_MS     sleep this long per record (for tests)
//	KCLGO_LOG_LEVEL           debug, info, warn, error
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kclgo/kclgo/checkpointer"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/samples/internal/env"
	"github.com/kclgo/kclgo/samples/internal/recordlog"
	"github.com/kclgo/kclgo/worker"
)

// sample is kcl.PerRecord with the record log, failing a batch on request.
type sample struct {
	*recordlog.Processor
	failBatch int
	batches   int
}

// ProcessRecords implements the kcl interface of the same name.
func (s *sample) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	s.batches++
	if s.batches == s.failBatch {
		return fmt.Errorf("sample: failing batch %d on purpose (KCLGO_SAMPLE_FAIL_BATCH)", s.batches)
	}
	return s.Processor.ProcessRecords(ctx, in)
}

// newSample makes the processor of one shard.
func newSample() (*sample, error) {
	log, err := recordlog.Open()
	if err != nil {
		return nil, err
	}
	p := &recordlog.Processor{Log: log}
	sleep := time.Duration(env.Int("KCLGO_SAMPLE_SLEEP_MS", 0)) * time.Millisecond
	per := &kcl.PerRecord{
		Handle: func(_ context.Context, r kcl.Record) (bool, error) {
			// Real work goes here. The record is finished when Handle
			// returns: only then may a checkpoint name it.
			if sleep > 0 {
				time.Sleep(sleep)
			}
			log.Record(p.Shard(), r.PartitionKey, r.SequenceNumber, r.SubSequenceNumber, r.Data)
			return false, log.Flush()
		},
	}
	every, seconds := env.Int("KCLGO_CHECKPOINT_EVERY", 1000), env.Int("KCLGO_CHECKPOINT_SECONDS", 60)
	if every > 0 || seconds > 0 {
		per.Policy = checkpointer.Either(every, time.Duration(seconds)*time.Second)
	} // else: PerRecord's default, a checkpoint at the end of every batch
	p.RecordProcessor = per
	return &sample{Processor: p, failBatch: env.Int("KCLGO_SAMPLE_FAIL_BATCH", 0)}, nil
}

func main() {
	native := flag.Bool("native", false, "run the native worker (no daemon): read the stream and share the lease table")
	var cfg worker.Config
	flag.StringVar(&cfg.StreamName, "stream", "", "with -native: the stream (required)")
	flag.StringVar(&cfg.ApplicationName, "app", "", "with -native: the application, i.e. the lease table (required)")
	flag.StringVar(&cfg.WorkerID, "worker-id", "", "with -native: the worker id (default: host name and a random suffix)")
	flag.StringVar(&cfg.InitialPosition, "initial-position", "TRIM_HORIZON", "with -native: TRIM_HORIZON or LATEST")
	flag.DurationVar(&cfg.FailoverTime, "failover", 10*time.Second, "with -native: failoverTimeMillis")
	flag.DurationVar(&cfg.IdleTimeBetweenReads, "idle", time.Second, "with -native: idleTimeBetweenReadsInMillis")
	flag.DurationVar(&cfg.ParentShardPollInterval, "parent-poll", 10*time.Second, "with -native: parentShardPollIntervalMillis")
	flag.DurationVar(&cfg.ShardSyncInterval, "shard-sync", time.Minute, "with -native: shardSyncIntervalMillis")
	flag.IntVar(&cfg.MaxLeasesForWorker, "max-leases", 0, "with -native: maxLeasesForWorker (0: no cap)")
	var maxRecords int
	flag.IntVar(&maxRecords, "max-records", 10000, "with -native: maxRecords, the most records a GetRecords call returns")
	kinesisEndpoint := flag.String("kinesis-endpoint", "", "with -native: Kinesis endpoint URL (default: AWS)")
	dynamoEndpoint := flag.String("dynamodb-endpoint", "", "with -native: DynamoDB endpoint URL (default: AWS)")
	region := flag.String("region", "", "with -native: AWS region (default: from the AWS configuration, else us-east-1)")
	retrieval := flag.String("retrieval", "", "with -native: fanout or polling (retrievalMode; default: fanout when -consumer is given)")
	flag.StringVar(&cfg.ConsumerName, "consumer", "", "with -native: the enhanced fan-out consumer's name (consumerName; registered if absent)")
	flag.BoolVar(&cfg.FanOutFallbackToPolling, "fanout-fallback", false, "with -native: poll when the fan-out consumer cannot be registered")
	kinesisH2C := flag.Bool("kinesis-h2c", false, "with -native: speak HTTP/2 without TLS to an http:// -kinesis-endpoint (a local proxy), as the SDK speaks HTTP/2 to Kinesis")
	otlpURL := flag.String("otlp", "", "push metrics over OTLP/HTTP to this URL every 10 s, e.g. http://127.0.0.1:4318/v1/metrics")
	promAddr := flag.String("prometheus", "", "with -native: serve Prometheus metrics on ADDR/metrics, e.g. 127.0.0.1:9464")
	flag.Parse()

	mp, stopMetrics, err := metrics(context.Background(), *otlpURL, *promAddr, *native)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perrecord:", err)
		os.Exit(2)
	}
	// exit flushes the metrics (the last OTLP push) and exits with code.
	exit := func(code int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopMetrics(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "perrecord: metrics:", err)
		}
		if code != 0 {
			os.Exit(code)
		}
	}

	if !*native {
		s, err := newSample()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		opts := []kcl.Option{kcl.WithMeterProvider(mp)}
		if s.failBatch > 0 {
			opts = append(opts, kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1}))
		}
		if err := kcl.Run(context.Background(), s, opts...); err != nil {
			exit(1)
		}
		exit(0)
		return
	}

	cfg.RetrievalMode = worker.RetrievalMode(strings.ToUpper(*retrieval))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perrecord: AWS configuration:", err)
		os.Exit(2)
	}
	if *region != "" {
		awsCfg.Region = *region
	} else if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	cfg.Kinesis = kinesis.NewFromConfig(awsCfg, func(o *kinesis.Options) {
		if *kinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(*kinesisEndpoint)
		}
		if *kinesisH2C {
			var p http.Protocols
			p.SetUnencryptedHTTP2(true)
			o.HTTPClient = &http.Client{Transport: &http.Transport{Protocols: &p}}
		}
	})
	cfg.MeterProvider = mp
	cfg.MaxRecords = int32(min(max(maxRecords, 0), 10000))
	cfg.DynamoDB = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if *dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(*dynamoEndpoint)
		}
	})
	err = worker.Run(ctx, cfg, func(string) kcl.RecordProcessor {
		s, err := newSample()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return s
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "perrecord:", err)
		exit(1)
	}
	exit(0)
}
