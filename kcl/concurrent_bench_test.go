package kcl_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
)

type nopTransport struct{}

func (nopTransport) SendCheckpoint(context.Context, *kcl.Position) (string, error) { return "", nil }

// BenchmarkConcurrent compares Concurrent with 64 records in flight to
// sequential PerRecord, in the same run, on one shard driven through
// ActionRunner (as Run and the native worker drive it) in batches of 100
// with a checkpoint per batch: records/s with a handler that sleeps 5 ms
// (the target is 40× PerRecord's), and ns per record with a handler that
// does nothing (Concurrent's overhead).
//
//	go test ./kcl -run '^$' -bench BenchmarkConcurrent -benchtime 3s
func BenchmarkConcurrent(b *testing.B) {
	for _, lat := range []time.Duration{5 * time.Millisecond, 0} {
		work := func() {
			if lat > 0 {
				time.Sleep(lat)
			}
		}
		name := strconv.Itoa(int(lat/time.Millisecond)) + "ms"
		b.Run(name+"/PerRecord", func(b *testing.B) {
			benchShard(b, &kcl.PerRecord{Handle: func(context.Context, kcl.Record) (bool, error) { work(); return false, nil }})
		})
		b.Run(name+"/Concurrent64", func(b *testing.B) {
			benchShard(b, &kcl.Concurrent{Workers: 64, MaxInFlight: 64, Handle: func(context.Context, kcl.Record) error { work(); return nil }})
		})
	}
}

func benchShard(b *testing.B, p kcl.RecordProcessor) {
	// A pool of batches, cycled: the processors never compare sequence
	// numbers, and b.N records could be gigabytes.
	const batch, pool = 100, 64
	records := recs(0, batch*pool, func(i int) string { return "pk-" + strconv.Itoa(i%1000) })
	r := kcl.NewActionRunner(p, kcl.WithLogger(zerolog.Nop()))
	ctx := context.Background()
	if err := r.Initialize(ctx, kcl.InitializeInput{ShardID: "shardId-000000000000"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	for i := 0; i < b.N; i += batch {
		j := i % len(records)
		if err := r.ProcessRecords(ctx, kcl.ProcessRecordsInput{Records: records[j : j+min(batch, b.N-i)]}, nopTransport{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.ShardEnded(ctx, nopTransport{}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "records/s")
}
