// Command latencybench measures the native worker's latency from a record's
// put to its ProcessRecords, with enhanced fan-out against polling, on the
// local emulator: kinesis-local (scripts/localstack.sh up native) for
// polling, the same kinesis-local behind h2cproxy -fan-out for fan-out,
// moto's DynamoDB for the lease table.
//
//	bash scripts/localstack.sh up native && eval "$(bash scripts/localstack.sh env native)"
//	go run ./bench/latencybench -kinesis $KINESIS_ENDPOINT_HTTP1 -fanout $KINESIS_ENDPOINT_FANOUT -dynamodb $DYNAMODB_ENDPOINT
//
// For each mode, in turn (-rounds times), it creates a stream, starts a
// worker in this process, waits until a warm-up record arrives, then puts
// -records records one at a time at -rate per second, each carrying its put
// time, and notes when ProcessRecords gets it. It prints the median and the
// 99th percentile of each mode and their ratio to polling's. The figures are
// the emulator's, not AWS's: kinesis-local pushes fan-out events about once
// a second.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/worker"
)

func main() {
	kEP := flag.String("kinesis", "", "kinesis-local's endpoint (polling)")
	fEP := flag.String("fanout", "", "the fan-out proxy's endpoint (h2cproxy -fan-out in front of kinesis-local)")
	dEP := flag.String("dynamodb", "", "DynamoDB endpoint (moto)")
	records := flag.Int("records", 1000, "records per mode and round")
	rate := flag.Int("rate", 50, "records put per second")
	shards := flag.Int("shards", 4, "shards per stream")
	idle := flag.Duration("idle", 200*time.Millisecond, "polling: IdleTimeBetweenReads (the KCL default is 1s; 200ms is the KCL 3 minimum)")
	rounds := flag.Int("rounds", 1, "rounds of both modes, interleaved")
	h2c := flag.Bool("h2c", true, "fan-out: speak HTTP/2 without TLS to the proxy, as the SDK speaks HTTP/2 to Kinesis (false: HTTP/1.1)")
	flag.Parse()
	if *kEP == "" || *fEP == "" || *dEP == "" {
		fmt.Fprintln(os.Stderr, "latencybench: -kinesis, -fanout and -dynamodb are required")
		os.Exit(2)
	}
	res := map[string][]time.Duration{}
	for r := range *rounds {
		for _, mode := range []string{"polling", "fanout"} {
			ep := *kEP
			if mode == "fanout" {
				ep = *fEP
			}
			lat, err := measure(mode, ep, *dEP, *records, *rate, *shards, *idle, r, *h2c)
			if err != nil {
				fmt.Fprintln(os.Stderr, "latencybench:", mode, err)
				os.Exit(1)
			}
			res[mode] = append(res[mode], lat...)
		}
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(float64(len(d))*p))]
	}
	base50, base99 := pct(res["polling"], 0.5), pct(res["polling"], 0.99)
	fmt.Printf("put → ProcessRecords, %d records per mode (%d rounds × %d), %d/s, %d shards, polling idle %s\n", len(res["polling"]), *rounds, *records, *rate, *shards, *idle)
	fmt.Printf("%-8s %10s %10s %10s %10s\n", "mode", "median", "p99", "median/polling", "p99/polling")
	for _, mode := range []string{"polling", "fanout"} {
		m, p := pct(res[mode], 0.5), pct(res[mode], 0.99)
		fmt.Printf("%-8s %10s %10s %10.2f %10.2f\n", mode, m.Round(time.Millisecond), p.Round(time.Millisecond), float64(m)/float64(base50), float64(p)/float64(base99))
	}
}

// measure runs one mode on a fresh stream and returns each record's latency.
func measure(mode, kEP, dEP string, n, rate, shards int, idle time.Duration, round int, h2c bool) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	ko := kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(kEP), Credentials: creds}
	if mode == "fanout" && h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		ko.HTTPClient = &http.Client{Transport: &http.Transport{Protocols: &p}}
	}
	kc := kinesis.New(ko)
	dc := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(dEP), Credentials: creds})
	name := fmt.Sprintf("lat-%s-%d-%d", mode, os.Getpid(), round)
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			break
		}
		if i == 100 {
			return nil, fmt.Errorf("stream %s not ACTIVE after 10 s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var mu sync.Mutex
	got := map[int]time.Duration{}
	warm := make(chan struct{}, 64)
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel)
	cfg := worker.Config{StreamName: name, ApplicationName: name, WorkerID: "bench", InitialPosition: "TRIM_HORIZON",
		Kinesis: kc, DynamoDB: dc, IdleTimeBetweenReads: idle, FailoverTime: 10 * time.Second, Logger: &log}
	if mode == "fanout" {
		cfg.ConsumerName = name
	}
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, cfg, func(string) kcl.RecordProcessor {
			return &kcl.PerRecord{Handle: func(_ context.Context, r kcl.Record) (bool, error) {
				now := time.Now()
				i, put, ok := parse(r.Data)
				if !ok {
					warm <- struct{}{}
					return false, nil
				}
				mu.Lock()
				got[i] = now.Sub(put)
				mu.Unlock()
				return false, nil
			}}
		})
	}()
	put := func(pk string, data []byte) error {
		_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(pk), Data: data})
		return err
	}
	// One warm-up record per shard's worth of keys: every shard is read before the clock starts.
	for i := range 4 * shards {
		if err := put(fmt.Sprint("warm-", i), []byte("warm")); err != nil {
			return nil, err
		}
	}
	for range 4 * shards {
		select {
		case <-warm:
		case err := <-done:
			return nil, fmt.Errorf("worker: %v", err)
		case <-time.After(2 * time.Minute):
			return nil, fmt.Errorf("warm-up records not delivered within 2 min")
		}
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		if err := put(fmt.Sprint("pk-", i), []byte(strconv.Itoa(i)+" "+strconv.FormatInt(time.Now().UnixNano(), 10))); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k == n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d records delivered within a minute of the last put", k, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if mode == "fanout" {
		_ = worker.DeregisterConsumer(context.Background(), cfg)
	}
	out := make([]time.Duration, 0, n)
	for _, d := range got {
		out = append(out, d)
	}
	return out, nil
}

// parse reads "index unixnano".
func parse(b []byte) (int, time.Time, bool) {
	var i int
	var ns int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &i, &ns); err != nil {
		return 0, time.Time{}, false
	}
	return i, time.Unix(0, ns), true
}
