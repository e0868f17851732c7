// Command producer puts deterministic records into a Kinesis stream, for
// demos and end-to-end tests against local emulators (moto, kinesalite) or
// real Kinesis.
//
// Record i (counting from -start) has partition key "pk-<i>" and data
// "rec-<i>". Records go out in PutRecords batches of up to 500; records a
// batch reports as failed are retried.
//
//	producer -endpoint http://127.0.0.1:4567 -stream demo -count 10000
//	producer -endpoint http://127.0.0.1:4567 -stream demo -create 4   # create with 4 shards, wait until ACTIVE
//
// Credentials come from the usual AWS environment variables; when none are
// set and -endpoint is given, the dummy pair test/test is used (emulators
// do not check signatures).
//
// KPL aggregation is not implemented yet: -aggregate is reserved for it and
// fails until the deagg package offers an aggregator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// maxBatch is the PutRecords limit on records per call.
const maxBatch = 500

func main() {
	endpoint := flag.String("endpoint", "", "Kinesis endpoint URL (empty: the SDK's default for -region)")
	region := flag.String("region", "us-east-1", "AWS region")
	stream := flag.String("stream", "", "stream name (required)")
	count := flag.Int("count", 0, "number of records to put")
	start := flag.Int("start", 0, "index of the first record")
	batch := flag.Int("batch", maxBatch, "records per PutRecords call (1..500)")
	create := flag.Int("create", 0, "if > 0: create the stream with this many shards when missing, and wait until it is ACTIVE")
	aggregate := flag.Bool("aggregate", false, "KPL-aggregate records (not implemented yet)")
	timeout := flag.Duration("timeout", 2*time.Minute, "overall time limit")
	quiet := flag.Bool("quiet", false, "print nothing on success")
	flag.Parse()

	cfg := config{
		endpoint: *endpoint, region: *region, stream: *stream, count: *count, start: *start,
		batch: *batch, create: *create, aggregate: *aggregate, quiet: *quiet,
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

type config struct {
	endpoint, region, stream string
	count, start, batch      int
	create                   int
	aggregate, quiet         bool
}

func run(ctx context.Context, c config) error {
	if c.stream == "" {
		return errors.New("-stream is required")
	}
	if c.batch < 1 || c.batch > maxBatch {
		return fmt.Errorf("-batch %d: want 1..%d", c.batch, maxBatch)
	}
	if c.aggregate {
		// Hook for KPL aggregation: build aggregated records with the deagg
		// package's aggregator once it exists, then put those instead.
		return errors.New("-aggregate: KPL aggregation is not implemented yet")
	}
	client := newClient(c.endpoint, c.region)
	if c.create > 0 {
		if err := createStream(ctx, client, c.stream, c.create); err != nil {
			return err
		}
	}
	if c.count <= 0 {
		return nil
	}
	began := time.Now()
	for i := c.start; i < c.start+c.count; i += c.batch {
		n := min(c.batch, c.start+c.count-i)
		entries := make([]types.PutRecordsRequestEntry, n)
		for j := range entries {
			k := strconv.Itoa(i + j)
			entries[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String("pk-" + k), Data: []byte("rec-" + k)}
		}
		if err := putAll(ctx, client, c.stream, entries); err != nil {
			return fmt.Errorf("records %d..%d: %w", i, i+n-1, err)
		}
	}
	if !c.quiet {
		fmt.Fprintf(os.Stderr, "producer: put %d records (%d..%d) into %s in %v\n",
			c.count, c.start, c.start+c.count-1, c.stream, time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// newClient returns a Kinesis client for endpoint (empty: AWS) in region.
func newClient(endpoint, region string) *kinesis.Client {
	opts := kinesis.Options{Region: region, RetryMaxAttempts: 10}
	if endpoint != "" {
		opts.BaseEndpoint = aws.String(endpoint)
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" && endpoint != "" {
		key, secret = "test", "test"
	}
	if key != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN"))
	}
	return kinesis.New(opts)
}

// putAll puts entries, retrying the ones PutRecords reports as failed.
func putAll(ctx context.Context, client *kinesis.Client, stream string, entries []types.PutRecordsRequestEntry) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			return err
		}
		if aws.ToInt32(out.FailedRecordCount) == 0 {
			return nil
		}
		var failed []types.PutRecordsRequestEntry
		for k, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, entries[k])
			}
		}
		if attempt >= 20 {
			return fmt.Errorf("%d records still failing after %d attempts", len(failed), attempt)
		}
		entries = failed
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// createStream creates stream with shards shards unless it exists, then
// waits until it is ACTIVE.
func createStream(ctx context.Context, client *kinesis.Client, stream string, shards int) error {
	_, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(int32(shards))})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create stream %s: %w", stream, err)
	}
	for {
		out, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream %s not ACTIVE: %w", stream, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
