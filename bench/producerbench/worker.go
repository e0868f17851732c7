package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/producer"
)

// runWorker runs one measurement in this process.
func runWorker(kind, endpoint string, size, n, nkeys int, mode string) (result, error) {
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = "partition-key-" + strconv.Itoa(i)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	var res result
	cpu0, t0 := cpuTime(), time.Now()
	switch kind {
	case "producer":
		client := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
		ctx := context.Background()
		p, err := producer.New(ctx, client, producer.Config{StreamName: "bench", DisableAggregation: mode == "plain"})
		if err != nil {
			return res, err
		}
		for i := range n {
			if err := p.Put(ctx, keys[i%len(keys)], data); err != nil {
				return res, err
			}
		}
		if err := p.Close(ctx); err != nil {
			return res, err
		}
		st := p.Stats()
		if st.RecordsDelivered != int64(n) {
			return res, fmt.Errorf("%d of %d records delivered", st.RecordsDelivered, n)
		}
		res.Calls, res.Entries = st.Requests, st.KinesisRecords
	case "aggregator":
		// As the producer aggregates: one Aggregator per shard of 4, 1 MiB
		// aggregates at most (Kinesis's limit).
		var aggs [4]deagg.Aggregator
		for i := range n {
			a := &aggs[i%4]
			done, err := a.Add(deagg.Entry{PartitionKey: keys[i%len(keys)], Data: data})
			if err != nil {
				return res, err
			}
			if done != nil {
				res.Entries++
			}
		}
		for i := range aggs {
			if aggs[i].Flush() != nil {
				res.Entries++
			}
		}
	default:
		return res, fmt.Errorf("unknown worker %q", kind)
	}
	res.WallS = time.Since(t0).Seconds()
	res.CPUus = float64(cpuTime()-cpu0) / float64(time.Microsecond)
	res.Records = n
	res.PeakRSSKB = peakRSS()
	return res, nil
}

// cpuTime is this process's user plus system CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is this process's VmHWM in KiB (0 if unknown).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			n, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return n
		}
	}
	return 0
}
