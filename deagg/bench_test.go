package deagg_test

import (
	"crypto/md5"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kclgo/kclgo/deagg"
)

// benchShape is an input shaped as in KPL.md's performance reference:
// partition keys pk-0..pk-9, random data, no explicit hash keys.
type benchShape struct {
	name    string
	records int
	size    int
}

var benchShapes = []benchShape{
	{"1000x100B", 1000, 100},
	{"100x10KiB", 100, 10 << 10},
}

func (s benchShape) entries() []deagg.Entry {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]deagg.Entry, s.records)
	for i := range out {
		data := make([]byte, s.size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		out[i] = deagg.Entry{PartitionKey: fmt.Sprintf("pk-%d", i%10), Data: data}
	}
	return out
}

// aggregate returns the shape as one aggregate.
func (s benchShape) aggregate(b *testing.B) deagg.Record {
	a := &deagg.Aggregator{}
	for _, e := range s.entries() {
		if done, err := a.Add(e); err != nil || done != nil {
			b.Fatalf("the shape must fit one aggregate: %v", err)
		}
	}
	agg := a.Flush()
	return deagg.Record{Data: agg.Data, PartitionKey: agg.PartitionKey, SequenceNumber: "49590338271490256608559692538361571095921575989136588898"}
}

// BenchmarkMD5 is the floor for a verifying deaggregator: crypto/md5 alone
// over the protobuf body of the same aggregates.
func BenchmarkMD5(b *testing.B) {
	for _, s := range benchShapes {
		rec := s.aggregate(b)
		body := rec.Data[len(deagg.Magic) : len(rec.Data)-md5.Size]
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(rec.Data)))
			b.ReportAllocs()
			for b.Loop() {
				_ = md5.Sum(body)
			}
		})
	}
}

func BenchmarkDeaggregate(b *testing.B) {
	for _, s := range benchShapes {
		rec := s.aggregate(b)
		recs := []deagg.Record{rec}
		b.Run(s.name+"/append", func(b *testing.B) {
			b.SetBytes(int64(len(rec.Data)))
			b.ReportAllocs()
			dst := make([]deagg.UserRecord, 0, s.records)
			for b.Loop() {
				var err error
				dst, err = deagg.AppendUserRecords(dst[:0], recs)
				if err != nil || len(dst) != s.records {
					b.Fatal(err, len(dst))
				}
			}
		})
		b.Run(s.name+"/iter", func(b *testing.B) {
			b.SetBytes(int64(len(rec.Data)))
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				for _, err := range deagg.Iter(recs) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != s.records {
					b.Fatal(n)
				}
			}
		})
		b.Run(s.name+"/new-slice", func(b *testing.B) {
			b.SetBytes(int64(len(rec.Data)))
			b.ReportAllocs()
			for b.Loop() {
				if us, err := deagg.Deaggregate(recs); err != nil || len(us) != s.records {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAggregate(b *testing.B) {
	for _, s := range benchShapes {
		entries := s.entries()
		size := len(s.aggregate(b).Data)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			a := &deagg.Aggregator{}
			for b.Loop() {
				for _, e := range entries {
					if done, err := a.Add(e); err != nil || done != nil {
						b.Fatal(err)
					}
				}
				if agg := a.Flush(); agg.UserRecords != s.records {
					b.Fatal(agg.UserRecords)
				}
			}
		})
	}
}

// BenchmarkVsMD5 times deaggregation and crypto/md5 alone over the same
// bytes alternately, in the same loop, and reports the ratio of their
// fastest runs: on a busy machine, other load inflates both benchmarks above
// unevenly, but rarely the fastest of many alternating runs.
func BenchmarkVsMD5(b *testing.B) {
	for _, s := range benchShapes {
		rec := s.aggregate(b)
		recs := []deagg.Record{rec}
		body := rec.Data[len(deagg.Magic) : len(rec.Data)-md5.Size]
		forms := []struct {
			name string
			run  func(dst []deagg.UserRecord) []deagg.UserRecord
		}{
			{"append", func(dst []deagg.UserRecord) []deagg.UserRecord {
				dst, _ = deagg.AppendUserRecords(dst[:0], recs)
				return dst
			}},
			{"iter", func(dst []deagg.UserRecord) []deagg.UserRecord {
				for u := range deagg.Iter(recs) {
					dst = append(dst[:0], u)
				}
				return dst
			}},
		}
		for _, form := range forms {
			b.Run(s.name+"/"+form.name, func(b *testing.B) {
				b.SetBytes(int64(len(rec.Data)))
				b.ReportAllocs()
				dst := make([]deagg.UserRecord, 0, s.records)
				bestMD5, bestDeagg := time.Duration(1<<62), time.Duration(1<<62)
				for b.Loop() {
					t0 := time.Now()
					_ = md5.Sum(body)
					t1 := time.Now()
					dst = form.run(dst)
					t2 := time.Now()
					bestMD5 = min(bestMD5, t1.Sub(t0))
					bestDeagg = min(bestDeagg, t2.Sub(t1))
				}
				b.ReportMetric(float64(bestMD5.Nanoseconds()), "md5-min-ns")
				b.ReportMetric(float64(bestDeagg.Nanoseconds()), "deagg-min-ns")
				b.ReportMetric(float64(bestDeagg)/float64(bestMD5), "x-md5")
			})
		}
	}
}
