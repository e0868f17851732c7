package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/worker"
)

// testConfig is a fast Config over the fakes.
func testConfig(k *fakeKinesis, d *fakeDynamo) worker.Config {
	l := zerolog.Nop()
	return worker.Config{
		StreamName: "s", ApplicationName: "app", WorkerID: "w1", Kinesis: k, DynamoDB: d,
		InitialPosition: "TRIM_HORIZON", FailoverTime: 300 * time.Millisecond, IdleTimeBetweenReads: 10 * time.Millisecond,
		ParentShardPollInterval: 20 * time.Millisecond, ShardSyncInterval: 100 * time.Millisecond,
		ProcessorRetry: kcl.RetryPolicy{MaxAttempts: 1}, Logger: &l,
	}
}

// recorder is a processor that records what it is given and checkpoints
// after every batch.
type recorder struct {
	mu      sync.Mutex
	shard   string
	records []kcl.Record
	events  []string
	onBatch func(ctx context.Context, in kcl.ProcessRecordsInput) error
	ckErr   []error
}

func (r *recorder) Initialize(_ context.Context, in kcl.InitializeInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shard = in.ShardID
	r.events = append(r.events, "initialize "+in.SequenceNumber+"/"+strconv.FormatInt(in.SubSequenceNumber, 10))
	return nil
}

func (r *recorder) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	r.mu.Lock()
	for _, rec := range in.Records {
		rec.Data = append([]byte(nil), rec.Data...)
		r.records = append(r.records, rec)
	}
	r.mu.Unlock()
	if r.onBatch != nil {
		return r.onBatch(ctx, in)
	}
	err := in.Checkpointer.Checkpoint(ctx)
	r.mu.Lock()
	r.ckErr = append(r.ckErr, err)
	r.mu.Unlock()
	return nil
}

func (r *recorder) event(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) LeaseLost(context.Context, kcl.LeaseLostInput) error {
	r.event("leaseLost")
	return nil
}
func (r *recorder) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	r.event("shardEnded")
	return in.Checkpointer.Checkpoint(ctx)
}
func (r *recorder) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	r.event("shutdownRequested")
	return in.Checkpointer.Checkpoint(ctx)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.records)
}

func (r *recorder) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.events {
		if x == e {
			return true
		}
	}
	return false
}

// processors collects the processors Run makes, by shard.
type processors struct {
	mu sync.Mutex
	m  map[string]*recorder
	mk func() *recorder
}

func (p *processors) factory(shard string) kcl.RecordProcessor {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*recorder{}
	}
	r := &recorder{}
	if p.mk != nil {
		r = p.mk()
	}
	p.m[shard] = r
	return r
}

func (p *processors) get(shard string) *recorder {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[shard]
}

// run starts Run and returns a stop function that cancels it and returns
// its error.
func run(t *testing.T, cfg worker.Config, f worker.ProcessorFactory) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, cfg, f) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Run did not return within 10 s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
}

func TestDeliveryCheckpointAndRelease(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	var last [2]string
	for i, id := range []string{"shardId-0", "shardId-1"} {
		k.add(id)
		for j := range 30 {
			last[i] = k.put(id, fmt.Sprintf("pk-%d-%d", i, j), []byte(fmt.Sprintf("rec-%d-%d", i, j)))
		}
	}
	var ps processors
	stop := run(t, testConfig(k, d), ps.factory)
	eventually(t, "60 records", func() bool {
		a, b := ps.get("shardId-0"), ps.get("shardId-1")
		return a != nil && b != nil && a.count() == 30 && b.count() == 30
	})
	require.NoError(t, stop())
	for i, id := range []string{"shardId-0", "shardId-1"} {
		row := d.row("app", id)
		assert.Equal(t, last[i], sval(row["checkpoint"]), id)
		assert.Equal(t, "0", nval(row["checkpointSubSequenceNumber"]))
		assert.NotContains(t, row, "leaseOwner", "released at shutdown")
		r := ps.get(id)
		assert.True(t, r.has("shutdownRequested"))
		for j, rec := range r.records {
			assert.Equal(t, fmt.Sprintf("rec-%d-%d", i, j), string(rec.Data))
		}
	}
}

func TestCheckpointFencedAfterSteal(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	first := k.put("shardId-0", "a", []byte("1"))
	stolen := make(chan struct{})
	var ckErr error
	ps := processors{mk: func() *recorder {
		r := &recorder{}
		r.onBatch = func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			<-stolen // another worker takes the lease meanwhile
			ckErr = in.Checkpointer.Checkpoint(ctx)
			return nil
		}
		return r
	}}
	cfg := testConfig(k, d)
	cfg.FailoverTime = time.Hour // the renewer must not notice first
	stop := run(t, cfg, ps.factory)
	eventually(t, "the first batch", func() bool { r := ps.get("shardId-0"); return r != nil && r.count() == 1 })
	row := d.row("app", "shardId-0")
	n, _ := strconv.Atoi(nval(row["leaseCounter"]))
	d.set("app", "shardId-0", map[string]dtypes.AttributeValue{
		"leaseOwner":   &dtypes.AttributeValueMemberS{Value: "other"},
		"leaseCounter": &dtypes.AttributeValueMemberN{Value: strconv.Itoa(n + 1)},
		"checkpoint":   &dtypes.AttributeValueMemberS{Value: "TRIM_HORIZON"},
	})
	close(stolen)
	r := ps.get("shardId-0")
	eventually(t, "LeaseLost", func() bool { return r.has("leaseLost") })
	require.Error(t, ckErr)
	assert.ErrorIs(t, ckErr, kcl.ErrShutdown)
	assert.ErrorIs(t, ckErr, kcl.ErrCheckpointFailed)
	var ce *kcl.CheckpointError
	require.ErrorAs(t, ckErr, &ce)
	assert.Equal(t, "ShutdownException", ce.Name)
	require.NoError(t, stop())
	row = d.row("app", "shardId-0")
	assert.Equal(t, "other", sval(row["leaseOwner"]), "the new owner's row is untouched")
	assert.Equal(t, "TRIM_HORIZON", sval(row["checkpoint"]), "the zombie wrote no checkpoint (first record was %s)", first)
	assert.False(t, r.has("shutdownRequested"))
}

func TestShardEndCreatesChildrenProcessedAfterParent(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	parent := k.add("shardId-0")
	for j := range 5 {
		k.put("shardId-0", "p", []byte(strconv.Itoa(j)))
	}
	parent.closed = true
	k.add("shardId-1", "shardId-0")
	k.add("shardId-2", "shardId-0")
	parent.children = []ktypes.ChildShard{
		{ShardId: aws.String("shardId-1"), ParentShards: []string{"shardId-0"}, HashKeyRange: &ktypes.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("10")}},
		{ShardId: aws.String("shardId-2"), ParentShards: []string{"shardId-0"}, HashKeyRange: &ktypes.HashKeyRange{StartingHashKey: aws.String("11"), EndingHashKey: aws.String("340282366920938463463374607431768211455")}},
	}
	k.put("shardId-1", "c", []byte("c1"))
	k.put("shardId-2", "c", []byte("c2"))
	var ps processors
	stop := run(t, testConfig(k, d), ps.factory)
	eventually(t, "both children's records", func() bool {
		a, b := ps.get("shardId-1"), ps.get("shardId-2")
		return a != nil && b != nil && a.count() == 1 && b.count() == 1
	})
	require.NoError(t, stop())
	p := ps.get("shardId-0")
	assert.True(t, p.has("shardEnded"))
	row := d.row("app", "shardId-0")
	assert.Equal(t, "SHARD_END", sval(row["checkpoint"]))
	assert.ElementsMatch(t, []string{"shardId-1", "shardId-2"}, row["childShardIds"].(*dtypes.AttributeValueMemberSS).Value)
	child := d.row("app", "shardId-1")
	assert.Equal(t, []string{"shardId-0"}, child["parentShardId"].(*dtypes.AttributeValueMemberSS).Value)
	assert.Equal(t, "0", sval(child["startingHashKey"]))
	assert.Equal(t, 5, p.count())
}

func TestRestartInsideAggregate(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	var agg deagg.Aggregator
	for i := range 10 {
		done, err := agg.Add(deagg.Entry{PartitionKey: "pk-" + strconv.Itoa(i), Data: []byte("rec-" + strconv.Itoa(i))})
		require.NoError(t, err)
		require.Nil(t, done)
	}
	ar := agg.Flush()
	seq := k.put("shardId-0", ar.PartitionKey, ar.Data)
	after := k.put("shardId-0", "plain", []byte("plain"))
	// A lease checkpointed at the fifth user record (sub-sequence 4).
	_, _ = d.CreateTable(context.Background(), nil2(), nil...)
	require.NoError(t, putLease(d, "shardId-0", seq, 4))
	var ps processors
	stop := run(t, testConfig(k, d), ps.factory)
	eventually(t, "the rest of the aggregate and the plain record", func() bool { r := ps.get("shardId-0"); return r != nil && r.count() == 6 })
	require.NoError(t, stop())
	r := ps.get("shardId-0")
	assert.Equal(t, "initialize "+seq+"/4", r.events[0])
	for i, rec := range r.records[:5] {
		assert.Equal(t, seq, rec.SequenceNumber)
		assert.Equal(t, int64(5+i), rec.SubSequenceNumber)
		assert.Equal(t, "rec-"+strconv.Itoa(5+i), string(rec.Data))
	}
	assert.Equal(t, after, r.records[5].SequenceNumber)
}

func TestProcessorFailureReleasesLeaseUnacknowledged(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	k.put("shardId-0", "a", []byte("1"))
	k.add("shardId-1")
	k.put("shardId-1", "b", []byte("2"))
	ps := processors{mk: func() *recorder {
		r := &recorder{}
		r.onBatch = func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			if r.shard == "shardId-0" {
				panic("boom")
			}
			return in.Checkpointer.Checkpoint(ctx)
		}
		return r
	}}
	stop := run(t, testConfig(k, d), ps.factory)
	eventually(t, "shard 1 checkpointed, shard 0 released", func() bool {
		return sval(d.row("app", "shardId-1")["checkpoint"]) != "TRIM_HORIZON" && ps.get("shardId-0") != nil
	})
	err := stop()
	require.Error(t, err)
	assert.ErrorIs(t, err, kcl.ErrProcessorFailed)
	var ae *kcl.ActionError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "shardId-0", ae.ShardID)
	var pe *kcl.PanicError
	assert.ErrorAs(t, err, &pe)
	assert.Equal(t, "TRIM_HORIZON", sval(d.row("app", "shardId-0")["checkpoint"]), "the failed batch was not checkpointed")
}

func TestRowsOtherAttributesSurviveAndForeignRowsSkipped(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	k.put("shardId-0", "a", []byte("1"))
	_, _ = d.CreateTable(context.Background(), nil2(), nil...)
	require.NoError(t, putLease(d, "shardId-0", "TRIM_HORIZON", 0))
	d.set("app", "shardId-0", map[string]dtypes.AttributeValue{"someoneElses": &dtypes.AttributeValueMemberS{Value: "keep me"}})
	d.tables["app"]["WorkerMetricStats#w9"] = map[string]dtypes.AttributeValue{
		"leaseKey": &dtypes.AttributeValueMemberS{Value: "WorkerMetricStats#w9"}, "entityType": &dtypes.AttributeValueMemberS{Value: "WORKER_METRICS_STATS"}}
	var ps processors
	stop := run(t, testConfig(k, d), ps.factory)
	eventually(t, "the record", func() bool { r := ps.get("shardId-0"); return r != nil && r.count() == 1 })
	require.NoError(t, stop())
	assert.Equal(t, "keep me", sval(d.row("app", "shardId-0")["someoneElses"]))
	assert.Nil(t, ps.get("WorkerMetricStats#w9"), "a row that is not a lease is never processed")
	assert.Equal(t, "WORKER_METRICS_STATS", sval(d.row("app", "WorkerMetricStats#w9")["entityType"]))
}

func TestCheckpointOwnerHandoffNotStarted(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	k.put("shardId-0", "a", []byte("1"))
	_, _ = d.CreateTable(context.Background(), nil2(), nil...)
	require.NoError(t, putLease(d, "shardId-0", "TRIM_HORIZON", 0))
	d.set("app", "shardId-0", map[string]dtypes.AttributeValue{
		"leaseOwner": &dtypes.AttributeValueMemberS{Value: "old"}, "checkpointOwner": &dtypes.AttributeValueMemberS{Value: "old"}})
	var ps processors
	stop := run(t, testConfig(k, d), ps.factory)
	time.Sleep(time.Second) // several failover times and scans
	require.NoError(t, stop())
	assert.Nil(t, ps.get("shardId-0"), "a lease in a KCL 3.x hand-off is not taken")
}

func TestConfigErrors(t *testing.T) {
	err := worker.Run(context.Background(), worker.Config{}, func(string) kcl.RecordProcessor { return nil })
	require.ErrorIs(t, err, worker.ErrConfig)
	assert.Contains(t, err.Error(), "StreamName, ApplicationName, Kinesis, DynamoDB")
	cfg := testConfig(&fakeKinesis{}, newFakeDynamo())
	cfg.InitialPosition = "SOMEWHERE"
	err = worker.Run(context.Background(), cfg, func(string) kcl.RecordProcessor { return nil })
	require.ErrorIs(t, err, worker.ErrConfig)
	assert.Contains(t, err.Error(), `"SOMEWHERE"`)
	cfg.InitialPosition = "AT_TIMESTAMP"
	assert.ErrorIs(t, worker.Run(context.Background(), cfg, func(string) kcl.RecordProcessor { return nil }), worker.ErrConfig)
	assert.ErrorIs(t, worker.Run(context.Background(), testConfig(&fakeKinesis{}, newFakeDynamo()), nil), worker.ErrConfig)
	cfg = testConfig(&fakeKinesis{}, newFakeDynamo())
	cfg.ApplicationName = "my app"
	err = worker.Run(context.Background(), cfg, func(string) kcl.RecordProcessor { return nil })
	require.ErrorIs(t, err, worker.ErrConfig)
	assert.Contains(t, err.Error(), `ApplicationName "my app"`)
	cfg = testConfig(&fakeKinesis{}, newFakeDynamo())
	cfg.StreamName = "nope"
	err = worker.Run(context.Background(), cfg, func(string) kcl.RecordProcessor { return nil })
	require.ErrorIs(t, err, worker.ErrConfig)
	assert.Contains(t, err.Error(), `stream "nope" not found`)
}

func TestFinishedLeaseDeletedOnceChildrenStarted(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	parent := k.add("shardId-0")
	k.put("shardId-0", "p", []byte("p"))
	parent.closed = true
	k.add("shardId-1", "shardId-0")
	parent.children = []ktypes.ChildShard{{ShardId: aws.String("shardId-1"), ParentShards: []string{"shardId-0"}}}
	k.put("shardId-1", "c", []byte("c"))
	var ps processors
	cfg := testConfig(k, d)
	cfg.CompletedLeaseCleanupInterval = 50 * time.Millisecond
	stop := run(t, cfg, ps.factory)
	eventually(t, "the child's record", func() bool { r := ps.get("shardId-1"); return r != nil && r.count() == 1 })
	eventually(t, "the parent's lease deleted", func() bool { return d.row("app", "shardId-0") == nil })
	require.NoError(t, stop())
	assert.NotNil(t, d.row("app", "shardId-1"))
}

func TestGetRecordsThrottlingAndExpiredIterator(t *testing.T) {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	k.put("shardId-0", "a", []byte("1"))
	k.fail = []error{
		&ktypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")},
		&ktypes.ExpiredIteratorException{Message: aws.String("expired")},
		&ktypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")},
	}
	var ps processors
	stop := run(t, testConfig(k, d), ps.factory)
	eventually(t, "the record after the faults", func() bool { r := ps.get("shardId-0"); return r != nil && r.count() == 1 })
	second := k.put("shardId-0", "b", []byte("2"))
	eventually(t, "the next record, once", func() bool { return ps.get("shardId-0").count() == 2 })
	require.NoError(t, stop())
	r := ps.get("shardId-0")
	assert.Equal(t, second, r.records[1].SequenceNumber)
	assert.Equal(t, []string{"1", "2"}, []string{string(r.records[0].Data), string(r.records[1].Data)})
}
