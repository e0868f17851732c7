package sink_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/sink"
)

// transport is the lease table: it keeps the checkpoints.
type transport struct {
	mu    sync.Mutex
	calls []string
}

func (t *transport) SendCheckpoint(_ context.Context, pos *kcl.Position) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pos == nil {
		t.calls = append(t.calls, "end")
	} else {
		t.calls = append(t.calls, pos.SequenceNumber)
	}
	return "", nil
}

func (t *transport) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.calls) == 0 {
		return ""
	}
	return t.calls[len(t.calls)-1]
}

// recorder is a Flush that records its batches and fails on request.
type recorder struct {
	mu      sync.Mutex
	batches []string // "key:first-last(n)"
	fails   int      // the next fails calls fail
	calls   int
}

func (r *recorder) flush(_ context.Context, key string, recs []kcl.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fails > 0 {
		r.fails--
		return errors.New("destination unavailable")
	}
	r.batches = append(r.batches, fmt.Sprintf("%s:%s-%s(%d)", key, recs[0].Data, recs[len(recs)-1].Data, len(recs)))
	return nil
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.batches...)
}

func records(first, n, size int) []kcl.Record {
	out := make([]kcl.Record, n)
	for i := range out {
		id := first + i
		data := []byte("r" + strconv.Itoa(id))
		if size > len(data) {
			data = append(data, make([]byte, size-len(data))...)
		}
		out[i] = kcl.Record{Data: data, PartitionKey: "pk-" + strconv.Itoa(id%3), SequenceNumber: kcltest.SequenceNumber(id)}
	}
	return out
}

// shard drives a Concurrent over b through an ActionRunner.
func shard(t *testing.T, b *sink.Batcher, onError func(context.Context, kcl.Record, error) error) (*kcl.ActionRunner, *transport) {
	t.Helper()
	c := &kcl.Concurrent{HandleAsync: b.Add, Workers: 1, Unordered: true, MaxInFlight: 1000, OnError: onError}
	r := kcl.NewActionRunner(c, kcl.WithLogger(zerolog.Nop()), kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, r.Initialize(context.Background(), kcl.InitializeInput{ShardID: "shardId-000000000000"}))
	return r, &transport{}
}

func TestNewNeedsFlush(t *testing.T) {
	_, err := sink.New(sink.Config{})
	assert.ErrorIs(t, err, sink.ErrNoFlush)
}

func TestFlushByCount(t *testing.T) {
	rec := &recorder{}
	b, err := sink.New(sink.Config{Flush: rec.flush, MaxRecords: 10, MaxAge: time.Hour})
	require.NoError(t, err)
	r, tr := shard(t, b, nil)
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: records(0, 25, 0)}, tr))
	require.Eventually(t, func() bool { return len(rec.got()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{":r0-r9(10)", ":r10-r19(10)"}, rec.got())
	// The watermark: after the flushed records (once their acks are done),
	// never the 5 still in a batch.
	require.Eventually(t, func() bool {
		err := r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{}, tr)
		return err == nil && tr.last() == kcltest.SequenceNumber(19)
	}, 5*time.Second, time.Millisecond)
	for _, c := range tr.calls {
		assert.LessOrEqual(t, c, kcltest.SequenceNumber(19))
	}
	_ = r.LeaseLost(context.Background())
}

func TestFlushByBytes(t *testing.T) {
	rec := &recorder{}
	b, err := sink.New(sink.Config{Flush: rec.flush, MaxBytes: 100, MaxAge: time.Hour})
	require.NoError(t, err)
	r, tr := shard(t, b, nil)
	// 30-byte records: three fit in 100 bytes, a fourth would not.
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: records(0, 7, 30)}, tr))
	require.Eventually(t, func() bool { return len(rec.got()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{":r0-r2(3)", ":r3-r5(3)"}, trimmed(rec.got()))
	_ = r.LeaseLost(context.Background())
}

// trimmed drops the zero padding from the batch descriptions.
func trimmed(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		b := []byte{}
		for _, c := range []byte(x) {
			if c != 0 {
				b = append(b, c)
			}
		}
		out[i] = string(b)
	}
	return out
}

func TestFlushByAge(t *testing.T) {
	rec := &recorder{}
	b, err := sink.New(sink.Config{Flush: rec.flush, MaxAge: 300 * time.Millisecond})
	require.NoError(t, err)
	r, tr := shard(t, b, nil)
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: records(0, 3, 0)}, tr))
	assert.Empty(t, rec.got(), "3 records, nowhere near the count or byte bound")
	assert.Empty(t, tr.calls, "no checkpoint before the flush")
	// ShardEnded waits for every record: the age flush comes.
	require.NoError(t, r.ShardEnded(context.Background(), tr))
	assert.Equal(t, []string{":r0-r2(3)"}, rec.got())
	assert.Equal(t, "end", tr.last())
}

// A failed flush is retried; its records are finished only once it
// succeeded: no checkpoint names them while it fails.
func TestFlushRetry(t *testing.T) {
	rec := &recorder{fails: 1 << 30} // failing until the test says
	b, err := sink.New(sink.Config{Flush: rec.flush, MaxRecords: 5, MaxAge: time.Hour,
		Retry: kcl.RetryPolicy{MaxAttempts: 1000, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
	require.NoError(t, err)
	r, tr := shard(t, b, nil)
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: records(0, 5, 0)}, tr))
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.calls >= 3
	}, 5*time.Second, time.Millisecond, "the flush is retried")
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{}, tr))
	assert.Empty(t, tr.calls, "nothing checkpointed while the flush is failing")
	rec.mu.Lock()
	rec.fails = 0 // the destination is back
	rec.mu.Unlock()
	require.NoError(t, r.ShardEnded(context.Background(), tr))
	assert.Equal(t, []string{":r0-r4(5)"}, rec.got())
	assert.Equal(t, "end", tr.last())
}

// A flush that keeps failing fails its records: OnError sees each one
// with a FlushError.
func TestFlushGivesUp(t *testing.T) {
	rec := &recorder{fails: 100}
	b, err := sink.New(sink.Config{Flush: rec.flush, MaxRecords: 4, MaxAge: time.Hour, Retry: kcl.RetryPolicy{MaxAttempts: 2}})
	require.NoError(t, err)
	var mu sync.Mutex
	var failed []string
	r, tr := shard(t, b, func(_ context.Context, rc kcl.Record, err error) error {
		var fe *sink.FlushError
		if errors.As(err, &fe) && fe.Attempts == 2 && fe.Records == 4 {
			mu.Lock()
			failed = append(failed, string(rc.Data))
			mu.Unlock()
		}
		return nil // dead-lettered
	})
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: records(0, 4, 0)}, tr))
	require.NoError(t, r.ShardEnded(context.Background(), tr))
	assert.ElementsMatch(t, []string{"r0", "r1", "r2", "r3"}, failed)
}

// Key makes one batch per key; batches of one key keep the stream order.
func TestFlushByKey(t *testing.T) {
	rec := &recorder{}
	b, err := sink.New(sink.Config{Flush: rec.flush, MaxRecords: 2, MaxAge: time.Hour,
		Key: func(r kcl.Record) string { return r.PartitionKey }})
	require.NoError(t, err)
	r, tr := shard(t, b, nil)
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: records(0, 12, 0)}, tr))
	require.Eventually(t, func() bool { return len(rec.got()) == 6 }, 5*time.Second, time.Millisecond)
	assert.ElementsMatch(t, []string{
		"pk-0:r0-r3(2)", "pk-0:r6-r9(2)",
		"pk-1:r1-r4(2)", "pk-1:r7-r10(2)",
		"pk-2:r2-r5(2)", "pk-2:r8-r11(2)",
	}, rec.got())
	require.NoError(t, r.ShardEnded(context.Background(), tr))
}
