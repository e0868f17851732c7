package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
)

// watermarks checks every checkpoint of kcl.Concurrent processors run by
// the native worker against the records finished so far.
type watermarks struct {
	mu       sync.Mutex
	order    map[string][]string       // shard → sequence numbers, in stream order
	finished map[string]map[string]int // shard → sequence number → times finished
	problems []string
}

func (w *watermarks) finish(shard, seq string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished[shard] == nil {
		w.finished[shard] = map[string]int{}
	}
	w.finished[shard][seq]++
}

// check reports a checkpoint at seq ("" for the shard's end) with a record
// at or before it unfinished.
func (w *watermarks) check(shard, seq string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.order[shard] {
		if w.finished[shard][s] == 0 {
			w.problems = append(w.problems, fmt.Sprintf("%s: checkpoint at %q with record %s unfinished", shard, seq, s))
			return
		}
		if s == seq {
			return
		}
	}
}

// checked is a Concurrent whose checkpoints are checked.
type checked struct {
	*kcl.Concurrent
	w     *watermarks
	shard string
}

type checkingCheckpointer struct {
	kcl.Checkpointer
	c *checked
}

func (c checkingCheckpointer) CheckpointAt(ctx context.Context, seq string, sub int64) error {
	c.c.w.check(c.c.shard, seq)
	return c.Checkpointer.CheckpointAt(ctx, seq, sub)
}

func (c checkingCheckpointer) Checkpoint(ctx context.Context) error {
	c.c.w.check(c.c.shard, "")
	return c.Checkpointer.Checkpoint(ctx)
}

func (c *checked) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	in.Checkpointer = checkingCheckpointer{in.Checkpointer, c}
	return c.Concurrent.ProcessRecords(ctx, in)
}

func (c *checked) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	in.Checkpointer = checkingCheckpointer{in.Checkpointer, c}
	return c.Concurrent.ShardEnded(ctx, in)
}

func (c *checked) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	in.Checkpointer = checkingCheckpointer{in.Checkpointer, c}
	return c.Concurrent.ShutdownRequested(ctx, in)
}

// TestConcurrentProcessor: kcl.Concurrent under the native worker. A closed
// shard with a child and an open shard; handlers of random latency on 16
// goroutines. Every checkpoint is at or behind the finished records, the
// closed shard ends with SHARD_END after all its records, and with
// CallProcessRecordsEvenForEmptyRecordList the idle open shard's row
// reaches its last record before any shutdown.
func TestConcurrentProcessor(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	w := &watermarks{order: map[string][]string{}, finished: map[string]map[string]int{}}
	put := func(shard string, n int) {
		for j := range n {
			w.order[shard] = append(w.order[shard], k.put(shard, fmt.Sprintf("pk-%d", j%7), []byte(fmt.Sprintf("%s-%d", shard, j))))
		}
	}
	parent := k.add("shardId-0")
	put("shardId-0", 300)
	parent.closed = true
	k.add("shardId-1", "shardId-0")
	parent.children = []ktypes.ChildShard{{ShardId: aws.String("shardId-1"), ParentShards: []string{"shardId-0"},
		HashKeyRange: &ktypes.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("340282366920938463463374607431768211455")}}}
	put("shardId-1", 100)
	k.add("shardId-2")
	put("shardId-2", 300)

	cfg := testConfig(k, d)
	cfg.CallProcessRecordsEvenForEmptyRecordList = true
	factory := func(shard string) kcl.RecordProcessor {
		c := &checked{w: w, shard: shard}
		c.Concurrent = &kcl.Concurrent{Workers: 16, Handle: func(ctx context.Context, r kcl.Record) error {
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
			w.finish(shard, r.SequenceNumber)
			return nil
		}}
		return c
	}
	stop := run(t, cfg, factory)
	last := func(shard string) string { return w.order[shard][len(w.order[shard])-1] }
	eventually(t, "every shard checkpointed at its end while running", func() bool {
		return sval(d.row("app", "shardId-0")["checkpoint"]) == "SHARD_END" &&
			sval(d.row("app", "shardId-1")["checkpoint"]) == last("shardId-1") &&
			sval(d.row("app", "shardId-2")["checkpoint"]) == last("shardId-2")
	})
	require.NoError(t, stop())
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Empty(t, w.problems)
	for shard, seqs := range w.order {
		for _, s := range seqs {
			if w.finished[shard][s] == 0 {
				t.Errorf("%s: record %s never finished", shard, s)
			}
		}
	}
}
