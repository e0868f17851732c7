package producer_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kclgo/kclgo/deagg"
)

// fakeKinesis is an in-memory stream for unit tests: PutRecords routes each
// entry by hash key to an open shard and stores it; hooks inject failures.
type fakeKinesis struct {
	mu      sync.Mutex
	shards  []*fakeShard
	calls   int
	seq     int
	entries int
	// failEntry, when set, returns an error code for entry i of call n.
	failEntry func(call, i int) string
	// callErr, when set, fails call n as a whole.
	callErr func(call int) error
	// lostAck, when set, fails call n after storing its records (the
	// response is lost).
	lostAck func(call int) error
	// block, when set, makes PutRecords wait until it is closed or ctx ends.
	block chan struct{}
	// latency, when set, is how long every PutRecords call takes.
	latency time.Duration
	// listBlock, when set, makes ListShards wait until it is closed;
	// listCalls counts ListShards calls.
	listBlock chan struct{}
	listCalls int
	// toClosedParent, when set, stores a record on the first shard holding
	// its hash key, closed or not, as moto does: on a split shard's parent.
	toClosedParent bool
}

type fakeShard struct {
	id         string
	start, end *big.Int
	closed     bool
	records    []deagg.Record
}

var maxHash = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// newFake returns a stream of n shards splitting the hash-key space evenly.
func newFake(n int) *fakeKinesis {
	f := &fakeKinesis{}
	step := new(big.Int).Div(new(big.Int).Add(maxHash, big.NewInt(1)), big.NewInt(int64(n)))
	for i := 0; i < n; i++ {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, step), big.NewInt(1))
		if i == n-1 {
			end = maxHash
		}
		f.shards = append(f.shards, &fakeShard{id: fmt.Sprintf("shardId-%012d", i), start: start, end: end})
	}
	return f
}

// split closes shard id and opens two children halving its range.
func (f *fakeKinesis) split(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.shards {
		if s.id != id {
			continue
		}
		s.closed = true
		mid := new(big.Int).Rsh(new(big.Int).Add(s.start, s.end), 1)
		n := len(f.shards)
		f.shards = append(f.shards,
			&fakeShard{id: fmt.Sprintf("shardId-%012d", n), start: s.start, end: mid},
			&fakeShard{id: fmt.Sprintf("shardId-%012d", n+1), start: new(big.Int).Add(mid, big.NewInt(1)), end: s.end})
		return
	}
}

func hashKey(pk, ehk string) *big.Int {
	if ehk != "" {
		h, _ := new(big.Int).SetString(ehk, 10)
		return h
	}
	sum := md5.Sum([]byte(pk))
	return new(big.Int).SetBytes(sum[:])
}

func (s *fakeShard) holds(h *big.Int) bool { return h.Cmp(s.start) >= 0 && h.Cmp(s.end) <= 0 }

func (f *fakeKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	call := f.calls
	f.calls++
	block := f.block
	f.mu.Unlock()
	if f.latency > 0 {
		t := time.NewTimer(f.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.callErr != nil {
		if err := f.callErr(call); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	failed := int32(0)
	for i, e := range in.Records {
		if f.failEntry != nil {
			if code := f.failEntry(call, i); code != "" {
				out.Records[i] = types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")}
				failed++
				continue
			}
		}
		h := hashKey(aws.ToString(e.PartitionKey), aws.ToString(e.ExplicitHashKey))
		for _, s := range f.shards {
			if (!s.closed || f.toClosedParent) && s.holds(h) {
				f.seq++
				f.entries++
				seq := strconv.Itoa(f.seq)
				s.records = append(s.records, deagg.Record{Data: e.Data, PartitionKey: aws.ToString(e.PartitionKey), SequenceNumber: seq})
				out.Records[i] = types.PutRecordsResultEntry{ShardId: aws.String(s.id), SequenceNumber: aws.String(seq)}
				break
			}
		}
	}
	out.FailedRecordCount = aws.Int32(failed)
	if f.lostAck != nil {
		if err := f.lostAck(call); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListShards returns two shards a page, as a real stream pages its shards.
func (f *fakeKinesis) ListShards(ctx context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	f.listCalls++
	block := f.listBlock
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	from := 0
	if in.NextToken != nil {
		if in.StreamName != nil {
			return nil, errors.New("ListShards: NextToken and StreamName both set")
		}
		from, _ = strconv.Atoi(*in.NextToken)
	}
	to := min(from+2, len(f.shards))
	out := &kinesis.ListShardsOutput{}
	if to < len(f.shards) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	for _, s := range f.shards[from:to] {
		sh := types.Shard{
			ShardId:             aws.String(s.id),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(s.start.String()), EndingHashKey: aws.String(s.end.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")},
		}
		if s.closed {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("99")
		}
		out.Shards = append(out.Shards, sh)
	}
	return out, nil
}

// kclView returns the user records a KCL consumer would read from every
// shard: aggregated user records outside their shard's range are dropped
// along with the rest of their aggregate, as AggregatorUtil does.
func (f *fakeKinesis) kclView() (recs []deagg.UserRecord, dropped int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.shards {
		for _, r := range s.records {
			urs, err := deagg.AppendRecord(nil, r)
			if err != nil {
				return nil, 0, err
			}
			ok := true
			for _, u := range urs {
				if u.Aggregated && !s.holds(hashKey(u.PartitionKey, u.ExplicitHashKey)) {
					ok = false
				}
			}
			if !ok {
				dropped += len(urs)
				continue
			}
			recs = append(recs, urs...)
		}
	}
	return recs, dropped, nil
}
