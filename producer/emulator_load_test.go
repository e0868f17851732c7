package producer_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/producer"
)

// loadRecord is record i of goroutine w in the load tests: its partition key
// and data, of mixed sizes (74% 20-200 B, 25% 0.5-2 KiB, 1% 4-8 KiB).
func loadRecord(w, i, keys int) (pk string, data []byte) {
	pk = fmt.Sprintf("user-%d-%d", w, i%keys)
	r := (i*7919 + w*104729) % 1000
	var size int
	switch {
	case r < 10:
		size = 4096 + r*409
	case r < 260:
		size = 512 + r*6
	default:
		size = 20 + r%181
	}
	data = fmt.Appendf(make([]byte, 0, size), "%d %d ", w, i)
	for len(data) < size {
		data = append(data, byte('a'+len(data)%26))
	}
	return pk, data
}

// putLoad puts n records from each of g goroutines, record i of goroutine
// w tagged [2]int{w, i}.
func putLoad(t testing.TB, p *producer.Producer, g, n, keys int) {
	var wg sync.WaitGroup
	for w := range g {
		wg.Go(func() {
			for i := range n {
				pk, data := loadRecord(w, i, keys)
				if err := p.PutRecord(context.Background(), producer.Record{PartitionKey: pk, Data: data, Tag: [2]int{w, i}}); err != nil {
					t.Errorf("Put %s: %v", pk, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// loadResult checks user records read back against putLoad's records.
type loadResult struct {
	seen       [][]int // times read, by goroutine and index
	bad        int
	outOfOrder int
}

func checkLoad(t *testing.T, got []deagg.UserRecord, g, n, keys int) *loadResult {
	t.Helper()
	res := &loadResult{seen: make([][]int, g)}
	for w := range res.seen {
		res.seen[w] = make([]int, n)
	}
	last := map[string]int{}
	for _, u := range got {
		var w, i int
		if _, err := fmt.Sscanf(string(u.Data), "%d %d ", &w, &i); err != nil || w < 0 || w >= g || i < 0 || i >= n {
			res.bad++
			continue
		}
		pk, data := loadRecord(w, i, keys)
		if u.PartitionKey != pk || !bytes.Equal(u.Data, data) {
			res.bad++
			continue
		}
		res.seen[w][i]++
		if prev, ok := last[pk]; ok && prev > i {
			res.outOfOrder++
		}
		last[pk] = i
	}
	if res.bad > 0 {
		t.Errorf("%d user records read back do not match any record put", res.bad)
	}
	return res
}

func TestEmulator100kExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("long emulator test")
	}
	url := emulator(t)
	checkGoroutines(t)
	c := kinesisClient(url)
	stream := createStream(t, c, 4)
	const g, n, keys = 8, 12_500, 100
	p, err := producer.New(context.Background(), c, producer.Config{StreamName: stream})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	putLoad(t, p, g, n, keys)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	putTime := time.Since(start)
	st := p.Stats()
	t.Logf("put %d records (%d bytes) in %v: %d Kinesis records in %d PutRecords calls, %d retries",
		st.RecordsPut, st.BytesPut, putTime, st.KinesisRecords, st.Requests, st.Retries)
	start = time.Now()
	got := readAll(t, c, stream)
	t.Logf("read back %d user records in %v", len(got), time.Since(start))
	res := checkLoad(t, got, g, n, keys)
	missing, dup := 0, 0
	for w := range res.seen {
		for i, k := range res.seen[w] {
			switch {
			case k == 0:
				missing++
				if missing < 5 {
					t.Errorf("record %d/%d missing", w, i)
				}
			case k > 1:
				dup++
			}
		}
	}
	if missing > 0 || dup > 0 || len(got) != g*n {
		t.Errorf("%d records missing, %d duplicated, %d read, want %d", missing, dup, len(got), g*n)
	}
	if st.Retries == 0 && res.outOfOrder > 0 {
		t.Errorf("%d records out of per-partition-key order without any retry", res.outOfOrder)
	}
	if st.RecordsDelivered != g*n || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

// fmtSscanf reads the goroutine and index at the start of a load record.
func fmtSscanf(data []byte, w, i *int) (int, error) {
	return fmt.Sscanf(string(data), "%d %d ", w, i)
}
