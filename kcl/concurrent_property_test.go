package kcl_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// The property test of Concurrent's watermark. A simulated shard of records
// (some of them user records of KPL aggregates, sharing a sequence number)
// is delivered in random batches to a Concurrent driven through
// kcl.ActionRunner — the step both runtimes use: Run under the daemon, and
// the native worker. Handlers take random times, finish synchronously or
// through an Ack from another goroutine after a random delay (so records
// finish in random order), and fail at random (to OnError, which takes the
// record, or failing the shard). Each run ends with a crash at a random
// point (no checkpoint from then on), a graceful shutdown, a failed shard,
// or the shard's end; a crashed or failed run restarts from the last
// checkpoint, as the daemon's restart would.
//
// Properties: every checkpoint names a record all of whose predecessors
// (and itself) are finished; checkpoints never move backwards nor beyond the
// records delivered; at the end every record was finished at least once
// and the shard's end is checkpointed.
func TestConcurrentWatermarkProperty(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			t.Parallel()
			checkWatermark(t, uint64(seed))
		})
	}
}

// simShard is the stream and what became of each record.
type simShard struct {
	recs []kcl.Record
	idx  map[kcl.Position]int // position → index in recs

	mu         sync.Mutex
	finished   []int // per record: times finished
	checkpoint int   // index of the last checkpointed record, -1: none
	ended      bool  // the end of the shard was checkpointed
	problems   []string
}

func newSimShard(rng *rand.Rand, n int) *simShard {
	s := &simShard{idx: map[kcl.Position]int{}, checkpoint: -1}
	seq := 1_000_000 // sequence numbers: a fixed prefix and this, zero-padded
	for len(s.recs) < n {
		seq += 1 + rng.IntN(1000)
		subs := 1
		if rng.IntN(5) == 0 {
			subs = 1 + rng.IntN(8) // a KPL aggregate's user records
		}
		for sub := range subs {
			r := kcl.Record{
				Data:              []byte(fmt.Sprintf("rec-%d", len(s.recs))),
				PartitionKey:      "pk-" + strconv.Itoa(rng.IntN(12)),
				SequenceNumber:    fmt.Sprintf("4959033827149025660855969253836%025d", seq),
				SubSequenceNumber: int64(sub),
			}
			if subs == 1 {
				r.SubSequenceNumber = 0
			}
			s.idx[kcl.Position{SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber}] = len(s.recs)
			s.recs = append(s.recs, r)
		}
	}
	s.recs = s.recs[:n]
	s.finished = make([]int, len(s.recs))
	return s
}

func (s *simShard) problem(format string, args ...any) {
	if len(s.problems) < 10 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *simShard) finish(r kcl.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.idx[kcl.Position{SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber}]
	if !ok {
		s.problem("finished an unknown record %s/%d", r.SequenceNumber, r.SubSequenceNumber)
		return
	}
	if string(r.Data) != "rec-"+strconv.Itoa(i) {
		s.problem("record %d handled with the data %q", i, r.Data)
	}
	s.finished[i]++
}

// simTransport is the lease table of one run: it checks each checkpoint
// against what is finished, and stores it unless the run has crashed.
type simTransport struct {
	s         *simShard
	delivered *int // index of the last record delivered in this run
	crashed   *bool
	mu        *sync.Mutex // guards delivered and crashed
}

var errCrashed = errors.New("simulated crash: the process is gone")

func (tr *simTransport) SendCheckpoint(_ context.Context, pos *kcl.Position) (string, error) {
	tr.mu.Lock()
	crashed, delivered := *tr.crashed, *tr.delivered
	tr.mu.Unlock()
	if crashed {
		return "", errCrashed
	}
	s := tr.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos == nil {
		for i, n := range s.finished {
			if n == 0 {
				s.problem("shard end checkpointed with record %d unfinished", i)
				break
			}
		}
		s.ended = true
		return "", nil
	}
	i, ok := s.idx[*pos]
	switch {
	case !ok:
		s.problem("checkpoint at an unknown position %v", *pos)
		return protocol.ExceptionIllegalArgument, nil
	case i < s.checkpoint:
		s.problem("checkpoint %d moved backwards from %d", i, s.checkpoint)
		return protocol.ExceptionIllegalArgument, nil
	case i > delivered:
		s.problem("checkpoint %d beyond the last record delivered %d", i, delivered)
		return protocol.ExceptionIllegalArgument, nil
	}
	for j := 0; j <= i; j++ {
		if s.finished[j] == 0 {
			s.problem("checkpoint at record %d while record %d is unfinished", i, j)
			return protocol.ExceptionIllegalArgument, nil
		}
	}
	s.checkpoint = i
	return "", nil
}

func checkWatermark(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 12))
	s := newSimShard(rng, 200+rng.IntN(1200))
	deadLetter := rng.IntN(2) == 0 // OnError takes failures, or they fail the shard
	failRate := []float64{0, 0.005, 0.03}[rng.IntN(3)]
	runs := 0
	for !s.ended {
		runs++
		if runs > 100 {
			t.Fatalf("seed %d: the shard did not end after 100 runs (checkpoint %d of %d)", seed, s.checkpoint, len(s.recs))
		}
		simRun(t, rng, s, deadLetter, failRate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range s.finished {
		if n == 0 {
			s.problem("record %d never finished", i)
			break
		}
	}
	if len(s.problems) > 0 {
		t.Fatalf("seed %d (%d records, %d runs, dead letter %v, fail rate %v):\n%v", seed, len(s.recs), runs, deadLetter, failRate, s.problems)
	}
	t.Logf("%d records, %d runs", len(s.recs), runs)
}

// simRun is one process's life: from the last checkpoint to a crash, a
// shutdown, a failure or the shard's end.
func simRun(t *testing.T, rng *rand.Rand, s *simShard, deadLetter bool, failRate float64) {
	var mu sync.Mutex
	crashed := false
	s.mu.Lock()
	next := s.checkpoint + 1
	s.mu.Unlock()
	delivered := next - 1
	tr := &simTransport{s: s, delivered: &delivered, crashed: &crashed, mu: &mu}

	// Each run draws its own random streams for the handlers, which run
	// concurrently: one locked source.
	var rmu sync.Mutex
	hr := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	draw := func(f func(*rand.Rand) int) int {
		rmu.Lock()
		defer rmu.Unlock()
		return f(hr)
	}
	fail := func() bool {
		return draw(func(r *rand.Rand) int {
			if r.Float64() < failRate {
				return 1
			}
			return 0
		}) == 1
	}
	latency := func() time.Duration {
		return time.Duration(draw(func(r *rand.Rand) int { return r.IntN(300) })) * time.Microsecond
	}
	errBoom := errors.New("handler failed")
	// Work a crashed process did after the crash is lost with it.
	finish := func(r kcl.Record) {
		mu.Lock()
		dead := crashed
		mu.Unlock()
		if !dead {
			s.finish(r)
		}
	}
	c := &kcl.Concurrent{
		Workers:     1 + rng.IntN(16),
		MaxInFlight: rng.IntN(64),
		Unordered:   rng.IntN(3) == 0,
	}
	if rng.IntN(2) == 0 {
		c.MaxInFlightBytes = 1 + rng.IntN(200)
	}
	if rng.IntN(3) == 0 {
		c.Policy = &everyN{n: 1 + rng.IntN(50)}
	}
	if rng.IntN(2) == 0 {
		c.Handle = func(ctx context.Context, r kcl.Record) error {
			time.Sleep(latency())
			if fail() {
				return errBoom
			}
			finish(r)
			return nil
		}
	} else {
		c.HandleAsync = func(ctx context.Context, r kcl.Record, ack kcl.Ack) error {
			if fail() {
				return errBoom
			}
			d, failLater := latency(), fail()
			go func() {
				time.Sleep(d)
				if failLater {
					ack.Done(errBoom)
					return
				}
				finish(r)
				ack.Done(nil)
			}()
			return nil
		}
	}
	if deadLetter {
		c.OnError = func(ctx context.Context, r kcl.Record, err error) error {
			finish(r) // written to the dead-letter queue: finished
			return nil
		}
	}
	c.ShutdownWait = time.Duration(rng.IntN(20)) * time.Millisecond

	runner := kcl.NewActionRunner(c, kcl.WithLogger(zerolog.Nop()), kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1 + rng.IntN(2)}))
	ctx := context.Background()
	if err := runner.Initialize(ctx, kcl.InitializeInput{ShardID: "shardId-000000000000"}); err != nil {
		t.Fatal(err)
	}
	// How the run ends: 0 crash, 1 shutdown, otherwise it goes to the end
	// (unless a record fails the shard).
	end := rng.IntN(4)
	stopAt := next + rng.IntN(len(s.recs)-next+1)
	for next < len(s.recs) {
		n := 1 + rng.IntN(100)
		if next+n > len(s.recs) {
			n = len(s.recs) - next
		}
		if end <= 1 && next+n > stopAt {
			break
		}
		batch := append([]kcl.Record(nil), s.recs[next:next+n]...)
		mu.Lock()
		delivered = next + n - 1
		mu.Unlock()
		err := runner.ProcessRecords(ctx, kcl.ProcessRecordsInput{Records: batch}, tr)
		// The records' data is reused after ProcessRecords returns.
		for i := range batch {
			batch[i].Data = []byte("garbage")
		}
		if err != nil {
			var re *kcl.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("ProcessRecords: %v, want a RecordError", err)
			}
			_ = runner.LeaseLost(ctx) // the daemon's restart: nothing more is checkpointed
			return
		}
		next += n
	}
	switch {
	case end == 0 || next < len(s.recs) && end != 1:
		mu.Lock()
		crashed = true
		mu.Unlock()
		_ = runner.LeaseLost(ctx)
	case end == 1:
		_ = runner.ShutdownRequested(ctx, tr)
		_ = runner.LeaseLost(ctx)
	default:
		if err := runner.ShardEnded(ctx, tr); err != nil {
			var re *kcl.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("ShardEnded: %v, want a RecordError", err)
			}
		}
	}
}

// everyN is a checkpoint policy: every n records.
type everyN struct{ n, count int }

func (p *everyN) RecordDone() bool { p.count++; return p.count >= p.n }
func (p *everyN) Checkpointed()    { p.count = 0 }
