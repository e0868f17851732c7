package protocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// batchLine returns one processRecords line of n records of size bytes each,
// shaped like the daemon's.
func batchLine(n, size int) []byte {
	data := bytes.Repeat([]byte{0xa5}, size)
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Data: data, PartitionKey: fmt.Sprintf("pk-%d", i%97), SequenceNumber: fmt.Sprintf("49590338271490256608559692538361571095921575989136588%03d", i%1000), ApproximateArrivalTimestamp: 1795576046680}
	}
	return append(AppendMessage(nil, ProcessRecords{Records: recs, MillisBehindLatest: new(int64)}), '\n')
}

// repeatReader yields the same bytes forever.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

var workloads = []struct {
	name    string
	n, size int
}{{"10000x100B", 10000, 100}, {"1000x10KiB", 1000, 10 << 10}}

// BenchmarkDecoder decodes a processRecords line with the Decoder, reading it
// from a stream as the run loop does.
func BenchmarkDecoder(b *testing.B) {
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			line := batchLine(w.n, w.size)
			d := NewDecoder(&repeatReader{b: line})
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, err := d.Next()
				if err != nil || len(m.(ProcessRecords).Records) != w.n {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNaive is the baseline: bufio.Scanner with a big buffer and
// encoding/json into a struct with []byte data, as a straightforward child
// would do it.
func BenchmarkNaive(b *testing.B) {
	type rec struct {
		Data                        []byte `json:"data"`
		PartitionKey                string `json:"partitionKey"`
		SequenceNumber              string `json:"sequenceNumber"`
		ApproximateArrivalTimestamp int64  `json:"approximateArrivalTimestamp"`
		SubSequenceNumber           int64  `json:"subSequenceNumber"`
	}
	type msg struct {
		Action             string `json:"action"`
		Records            []rec  `json:"records"`
		MillisBehindLatest int64  `json:"millisBehindLatest"`
	}
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			line := batchLine(w.n, w.size)
			s := bufio.NewScanner(&repeatReader{b: line})
			s.Buffer(make([]byte, 0, 1<<20), 256<<20)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !s.Scan() {
					b.Fatal(s.Err())
				}
				var m msg
				if err := json.Unmarshal(s.Bytes(), &m); err != nil || len(m.Records) != w.n {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriter encodes a processRecords line (the fake daemon's side).
func BenchmarkWriter(b *testing.B) {
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			line := batchLine(w.n, w.size)
			m, err := Decode(bytes.TrimSuffix(line, []byte("\n")))
			if err != nil {
				b.Fatal(err)
			}
			wr := NewWriter(io.Discard)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := wr.Write(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
