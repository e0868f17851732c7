// Command producer puts deterministic records into a Kinesis stream, for
// demos and end-to-end tests against local emulators (moto, kinesalite) or
// real Kinesis.
//
// Record i (counting from -start) has partition key "pk-<i>" and data
// "rec-<i>". Records go out through kclgo's producer package: PutRecords
// batches of up to 500, failed entries retried with backoff, and nothing
// lost without an error naming it. The last -aggregated records are
// KPL-aggregated per shard (the daemon deaggregates them for its children);
// the others are sent as plain records.
//
//	producer -endpoint http://127.0.0.1:4567 -stream demo -count 10000
//	producer -endpoint http://127.0.0.1:4567 -stream demo -create 4   # create with 4 shards, wait until ACTIVE
//
// Credentials come from the usual AWS environment variables; when none are
// set and -endpoint is given, the dummy pair test/test is used (emulators
// do not check signatures).
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

	"github.com/kclgo/kclgo/producer"
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
	aggregated := flag.Int("aggregated", 0, "how many of the records (the last ones) to KPL-aggregate")
	timeout := flag.Duration("timeout", 2*time.Minute, "overall time limit")
	quiet := flag.Bool("quiet", false, "print nothing on success")
	flag.Parse()

	cfg := config{
		endpoint: *endpoint, region: *region, stream: *stream, count: *count, start: *start,
		batch: *batch, create: *create, aggregated: *aggregated, quiet: *quiet,
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
	create, aggregated       int
	quiet                    bool
}

func run(ctx context.Context, c config) error {
	if c.stream == "" {
		return errors.New("-stream is required")
	}
	if c.batch < 1 || c.batch > maxBatch {
		return fmt.Errorf("-batch %d: want 1..%d", c.batch, maxBatch)
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
	aggregated := min(max(c.aggregated, 0), c.count)
	plainEnd := c.start + c.count - aggregated
	if err := put(ctx, client, c, c.start, plainEnd, false); err != nil {
		return err
	}
	if err := put(ctx, client, c, plainEnd, c.start+c.count, true); err != nil {
		return err
	}
	if !c.quiet {
		fmt.Fprintf(os.Stderr, "producer: put %d records (%d..%d, the last %d KPL-aggregated) into %s in %v\n",
			c.count, c.start, c.start+c.count-1, aggregated, c.stream, time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// put puts records from..to-1 with a producer, aggregated or plain, and
// waits until every one is delivered or reported failed.
func put(ctx context.Context, client *kinesis.Client, c config, from, to int, aggregate bool) error {
	if from >= to {
		return nil
	}
	p, err := producer.New(ctx, client, producer.Config{
		StreamName:         c.stream,
		DisableAggregation: !aggregate,
		BatchMaxRecords:    c.batch,
		Linger:             50 * time.Millisecond,
		RecordTTL:          time.Minute,
	})
	if err != nil {
		return err
	}
	for i := from; i < to; i++ {
		k := strconv.Itoa(i)
		if err := p.Put(ctx, "pk-"+k, []byte("rec-"+k)); err != nil {
			p.Close(ctx)
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	// Close flushes; its error names every record that could not be sent.
	return p.Close(ctx)
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
