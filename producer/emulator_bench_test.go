package producer_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kclgo/kclgo/producer"
)

// BenchmarkEmulatorPut measures put throughput against the emulator: b.N
// mixed-size records (loadRecord, ~480 B on average, 400 partition keys)
// put by 4 goroutines into a 4-shard stream, timed until Close has delivered
// them all. Run with a fixed count, e.g.
//
//	go test -run '^$' -bench EmulatorPut -benchtime 50000x ./producer/
func BenchmarkEmulatorPut(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  producer.Config
	}{
		{"aggregated", producer.Config{}},
		{"plain", producer.Config{DisableAggregation: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := kinesisClient(emulator(b))
			cfg := bc.cfg
			cfg.StreamName = createStream(b, c, 4)
			p, err := producer.New(context.Background(), c, cfg)
			if err != nil {
				b.Fatal(err)
			}
			const g = 4
			var next, bytes atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range g {
				wg.Go(func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							return
						}
						pk, data := loadRecord(w, i, 100)
						bytes.Add(int64(len(data)))
						if err := p.Put(context.Background(), pk, data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := p.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := p.Stats()
			if st.RecordsDelivered != int64(b.N) {
				b.Fatalf("delivered %d of %d", st.RecordsDelivered, b.N)
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "records/s")
			b.ReportMetric(float64(bytes.Load())/sec/1e6, "MB/s")
			b.ReportMetric(float64(st.Requests), "calls")
			b.ReportMetric(0, "ns/op")
		})
	}
}
