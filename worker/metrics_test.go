package worker_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/internal/telemetry/telemetrytest"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// These tests read the native worker's metrics through the SDK's
// ManualReader, over the in-memory fakes: delivery, a lease stolen from
// this worker and one it steals, throttled reads, renewals and checkpoints.

// flakyDynamo fails the next renewals or checkpoint writes with a throttle.
type flakyDynamo struct {
	*fakeDynamo
	renewals    atomic.Int32 // renewals still to fail
	checkpoints atomic.Int32 // checkpoint writes still to fail
}

func (f *flakyDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	_, isCheckpoint := in.AttributeUpdates["checkpoint"]
	_, isCounter := in.AttributeUpdates["leaseCounter"]
	throttle := &dtypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	switch {
	case isCheckpoint && f.checkpoints.Add(-1) >= 0:
		return nil, throttle
	case !isCheckpoint && isCounter && len(in.AttributeUpdates) == 1 && f.renewals.Add(-1) >= 0:
		return nil, throttle
	}
	return f.fakeDynamo.UpdateItem(ctx, in, opts...)
}

var (
	onWorker = []attribute.KeyValue{telemetry.KeyStream.String("s"), telemetry.KeyApplication.String("app"), telemetry.KeyWorker.String("w1")}
	noErr    = telemetry.KeyErrorType.String(telemetrytest.Absent)
)

func shardAttr(id string) attribute.KeyValue { return telemetry.KeyShard.String(id) }

func with(kv ...attribute.KeyValue) []attribute.KeyValue {
	return append(append([]attribute.KeyValue(nil), onWorker...), kv...)
}

func TestMetricsDeliveryLeasesAndReads(t *testing.T) {
	m := telemetrytest.New(t)
	k, d := &fakeKinesis{}, &flakyDynamo{fakeDynamo: newFakeDynamo()}
	for _, id := range []string{"shardId-0", "shardId-1"} {
		k.add(id)
		for j := range 30 {
			k.put(id, "pk-"+strconv.Itoa(j), []byte(fmt.Sprintf("%s-%02d", id, j))) // 12 bytes
		}
	}
	k.fail = []error{
		&ktypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")},
		&ktypes.ExpiredIteratorException{Message: aws.String("expired")},
	}
	d.renewals.Store(1)
	d.checkpoints.Store(1)
	cfg := testConfig(k, d.fakeDynamo)
	cfg.DynamoDB = d
	cfg.MeterProvider = m.Provider
	var ps processors
	stop := run(t, cfg, ps.factory)
	eventually(t, "60 records processed, a renewal failed, two leases held", func() bool {
		s := m.Collect(t)
		held, _ := s.Gauge(telemetry.NameLeasesHeld, onWorker...)
		return s.Sum(telemetry.NameProcessorRecords) == 60 && s.Sum(telemetry.NameRenewalFailures) == 1 && held == 2
	})
	s := m.Collect(t)
	for _, id := range []string{"shardId-0", "shardId-1"} {
		assert.Equal(t, int64(30), s.Sum(telemetry.NameProcessorRecords, with(shardAttr(id))...), id)
		assert.Equal(t, int64(30*12), s.Sum(telemetry.NameProcessorBytes, with(shardAttr(id))...), id)
		assert.Equal(t, int64(1), s.Sum(telemetry.NameLeasesTaken, with(shardAttr(id))...), id)
		lag, ok := s.Gauge(telemetry.NameBehindLatest, with(shardAttr(id))...)
		assert.True(t, ok, id)
		assert.Equal(t, int64(0), lag, id)
		_, sum := s.Count(telemetry.NameGetRecordsRecords, with(shardAttr(id))...)
		assert.Equal(t, 30.0, sum, "records per call add up to the shard's records: %s", id)
	}
	assert.Equal(t, int64(0), s.Sum(telemetry.NameLeasesStolen))
	assert.Equal(t, int64(0), s.Sum(telemetry.NameLeasesLost))
	assert.Equal(t, int64(1), s.Sum(telemetry.NameGetRecordsThrottles, onWorker...))
	n, _ := s.Count(telemetry.NameGetRecordsDuration, telemetry.KeyErrorType.String("ProvisionedThroughputExceededException"))
	assert.Equal(t, uint64(1), n)
	n, _ = s.Count(telemetry.NameGetRecordsDuration, telemetry.KeyErrorType.String("ExpiredIteratorException"))
	assert.Equal(t, uint64(1), n)
	n, _ = s.Count(telemetry.NameGetRecordsDuration, noErr)
	assert.GreaterOrEqual(t, n, uint64(2))
	// The throttled checkpoint write was refused once as ThrottlingException
	// and then stored by the Checkpointer's retry.
	assert.Equal(t, int64(1), s.Sum(telemetry.NameCheckpointFailures, with(telemetry.KeyErrorType.String(protocol.ExceptionThrottling))...))
	n, _ = s.Count(telemetry.NameCheckpointDuration, with(noErr)...)
	assert.GreaterOrEqual(t, n, uint64(2))
	assert.Equal(t, []string{"kcl.application.name", "kcl.shard.id", "kcl.stream.name", "kcl.worker.id"}, s.Keys(telemetry.NameLeasesTaken))
	assert.Equal(t, []string{"kcl.application.name", "kcl.stream.name", "kcl.worker.id"}, s.Keys(telemetry.NameLeasesHeld))

	require.NoError(t, stop())
	held, _ := m.Collect(t).Gauge(telemetry.NameLeasesHeld, onWorker...)
	assert.Equal(t, int64(0), held, "every lease released at shutdown")
}

func TestMetricsLeaseStolenFromThisWorker(t *testing.T) {
	m := telemetrytest.New(t)
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-0")
	k.put("shardId-0", "a", []byte("1"))
	stolen := make(chan struct{})
	ps := processors{mk: func() *recorder {
		r := &recorder{}
		r.onBatch = func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			<-stolen
			_ = in.Checkpointer.Checkpoint(ctx)
			return nil
		}
		return r
	}}
	cfg := testConfig(k, d)
	cfg.FailoverTime = time.Hour
	cfg.MeterProvider = m.Provider
	stop := run(t, cfg, ps.factory)
	eventually(t, "the first batch", func() bool { r := ps.get("shardId-0"); return r != nil && r.count() == 1 })
	n, _ := strconv.Atoi(nval(d.row("app", "shardId-0")["leaseCounter"]))
	d.set("app", "shardId-0", map[string]dtypes.AttributeValue{
		"leaseOwner":   &dtypes.AttributeValueMemberS{Value: "other"},
		"leaseCounter": &dtypes.AttributeValueMemberN{Value: strconv.Itoa(n + 1)},
	})
	close(stolen)
	eventually(t, "LeaseLost", func() bool { return ps.get("shardId-0").has("leaseLost") })
	require.NoError(t, stop())
	s := m.Collect(t)
	assert.Equal(t, int64(1), s.Sum(telemetry.NameLeasesLost, with(shardAttr("shardId-0"))...))
	assert.Equal(t, int64(1), s.Sum(telemetry.NameCheckpointFailures, with(telemetry.KeyErrorType.String(protocol.ExceptionShutdown))...),
		"the fenced checkpoint")
	held, _ := s.Gauge(telemetry.NameLeasesHeld, onWorker...)
	assert.Equal(t, int64(0), held)
}

func TestMetricsThisWorkerSteals(t *testing.T) {
	m := telemetrytest.New(t)
	k, d := &fakeKinesis{}, newFakeDynamo()
	_, _ = d.CreateTable(context.Background(), nil2())
	for _, id := range []string{"shardId-0", "shardId-1"} {
		k.add(id)
		require.NoError(t, putLease(d, id, "TRIM_HORIZON", 0))
		d.set("app", id, map[string]dtypes.AttributeValue{"leaseOwner": &dtypes.AttributeValueMemberS{Value: "other"}})
	}
	// The other worker is alive: it renews both leases (unless one was
	// taken from it) every 50 ms, a sixth of the failover time.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for i := 1; ctx.Err() == nil && i < 400; i++ {
			for _, id := range []string{"shardId-0", "shardId-1"} {
				if sval(d.row("app", id)["leaseOwner"]) == "other" {
					d.set("app", id, map[string]dtypes.AttributeValue{"leaseCounter": &dtypes.AttributeValueMemberN{Value: strconv.Itoa(i)}})
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	cfg := testConfig(k, d)
	cfg.MeterProvider = m.Provider
	var ps processors
	stop := run(t, cfg, ps.factory)
	eventually(t, "one lease stolen", func() bool { return m.Collect(t).Sum(telemetry.NameLeasesStolen, onWorker...) == 1 })
	cancel()
	require.NoError(t, stop())
	s := m.Collect(t)
	assert.Equal(t, int64(1), s.Sum(telemetry.NameLeasesStolen), "one at a time: the fair share is one of two")
	assert.Equal(t, int64(0), s.Sum(telemetry.NameLeasesTaken), "no lease was free or expired")
}
