package deagg

import (
	"crypto/md5"
	"fmt"
	"testing"
)

func BenchmarkInternalParse(b *testing.B) {
	a := &Aggregator{}
	for i := range 1000 {
		if _, err := a.Add(Entry{PartitionKey: fmt.Sprint("pk-", i%10), Data: make([]byte, 100)}); err != nil {
			b.Fatal(err)
		}
	}
	rec := Record{Data: a.Flush().Data}
	body := rec.Data[4 : len(rec.Data)-md5.Size]
	dst := make([]UserRecord, 0, 1000)
	b.Run("appendFast", func(b *testing.B) {
		for b.Loop() {
			dst, _ = appendFast(dst[:0], body, &rec)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			scan(body)
		}
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			check(body)
		}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			parse(body)
		}
	})
}
