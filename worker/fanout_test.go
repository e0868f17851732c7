package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/internal/telemetry/telemetrytest"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/worker"
)

// fanOutFake adds enhanced fan-out to fakeKinesis. The consumer calls are
// answered in memory; SubscribeToShard goes through the SDK's own client to
// an HTTP server that writes the service's event stream (initial-response,
// then SubscribeToShardEvent messages in the real encoding), so the SDK's
// decoder and event reader are part of every test. It speaks HTTP/1.1, over
// which the SDK loses some subscriptions a moment after they start (see
// worker's package documentation), so the tests also cover subscriptions
// that fail and are renewed. A unit-test stand-in only: the end-to-end
// tests run against kinesis-local.
type fanOutFake struct {
	*fakeKinesis
	sdk *kinesis.Client

	cmu        sync.Mutex
	consumers  map[string]*ktypes.ConsumerDescription
	creating   int   // DescribeStreamConsumer answers CREATING this many times after a registration
	registerEr error // RegisterStreamConsumer's error
	registers  int
	subscribes []string // StartingPosition of every SubscribeToShard: "TYPE seq"
	subErrs    []string // the next SubscribeToShard calls fail with these exception types
	perSub     int      // events per subscription before the server ends it (0: 3)
	batch      int      // records per event (0: 4)
}

func newFanOutFake(t *testing.T) *fanOutFake {
	f := &fanOutFake{fakeKinesis: &fakeKinesis{}, consumers: map[string]*ktypes.ConsumerDescription{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serveSubscribe))
	t.Cleanup(srv.Close)
	f.sdk = kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	return f
}

const fakeStreamARN = "arn:aws:kinesis:us-east-1:000000000000:stream/s"

func (f *fanOutFake) DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &ktypes.StreamDescriptionSummary{StreamARN: aws.String(fakeStreamARN)}}, nil
}

func (f *fanOutFake) DescribeStreamConsumer(_ context.Context, in *kinesis.DescribeStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	for _, c := range f.consumers {
		if aws.ToString(in.ConsumerName) == aws.ToString(c.ConsumerName) || aws.ToString(in.ConsumerARN) == aws.ToString(c.ConsumerARN) {
			d := *c
			if f.creating > 0 {
				f.creating--
				d.ConsumerStatus = ktypes.ConsumerStatusCreating
			}
			return &kinesis.DescribeStreamConsumerOutput{ConsumerDescription: &d}, nil
		}
	}
	return nil, &ktypes.ResourceNotFoundException{Message: aws.String("consumer not found")}
}

func (f *fanOutFake) RegisterStreamConsumer(_ context.Context, in *kinesis.RegisterStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	f.registers++
	if f.registerEr != nil {
		return nil, f.registerEr
	}
	f.addConsumer(aws.ToString(in.ConsumerName))
	return &kinesis.RegisterStreamConsumerOutput{}, nil
}

func (f *fanOutFake) addConsumer(name string) {
	f.consumers[name] = &ktypes.ConsumerDescription{ConsumerName: aws.String(name), ConsumerStatus: ktypes.ConsumerStatusActive,
		ConsumerARN: aws.String(fakeStreamARN + "/consumer/" + name + ":1")}
}

func (f *fanOutFake) DeregisterStreamConsumer(_ context.Context, in *kinesis.DeregisterStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	if _, ok := f.consumers[aws.ToString(in.ConsumerName)]; !ok {
		return nil, &ktypes.ResourceNotFoundException{Message: aws.String("consumer not found")}
	}
	delete(f.consumers, aws.ToString(in.ConsumerName))
	return &kinesis.DeregisterStreamConsumerOutput{}, nil
}

func (f *fanOutFake) SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, opts ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error) {
	return f.sdk.SubscribeToShard(ctx, in, opts...)
}

func seqLE(a, b string) bool {
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	return x != nil && y != nil && x.Cmp(y) <= 0
}

// serveSubscribe writes one subscription's event stream.
func (f *fanOutFake) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ShardId          string
		StartingPosition struct{ Type, SequenceNumber string }
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.cmu.Lock()
	f.subscribes = append(f.subscribes, strings.TrimSpace(req.StartingPosition.Type+" "+req.StartingPosition.SequenceNumber))
	var fail string
	if len(f.subErrs) > 0 {
		fail, f.subErrs = f.subErrs[0], f.subErrs[1:]
	}
	perSub, batch := max(f.perSub, 0), max(f.batch, 0)
	f.cmu.Unlock()
	if perSub == 0 {
		perSub = 3
	}
	if batch == 0 {
		batch = 4
	}
	if fail != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", fail)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":%q,"message":"scripted"}`, fail)
		return
	}
	f.mu.Lock()
	s := f.find(req.ShardId)
	idx := 0
	for idx < len(s.records) && (req.StartingPosition.Type == "AT_SEQUENCE_NUMBER" && !seqLE(req.StartingPosition.SequenceNumber, *s.records[idx].SequenceNumber) ||
		req.StartingPosition.Type == "AFTER_SEQUENCE_NUMBER" && seqLE(*s.records[idx].SequenceNumber, req.StartingPosition.SequenceNumber)) {
		idx++
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	enc := eventstream.NewEncoder()
	send := func(eventType string, payload any) bool {
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue(eventType))
		m.Payload, _ = json.Marshal(payload)
		if err := enc.Encode(w, m); err != nil {
			return false
		}
		w.(http.Flusher).Flush()
		return true
	}
	if !send("initial-response", struct{}{}) {
		return
	}
	type rec struct {
		Data                         []byte
		PartitionKey, SequenceNumber string
		ApproximateArrivalTimestamp  float64
	}
	cont := "1000000000000000" // below every record of the fake
	for range perSub {
		f.mu.Lock()
		n := min(batch, len(s.records)-idx)
		recs := []rec{}
		for _, x := range s.records[idx : idx+n] {
			recs = append(recs, rec{x.Data, *x.PartitionKey, *x.SequenceNumber, 1.7e9})
			cont = *x.SequenceNumber
		}
		idx += n
		closed, children := s.closed && idx == len(s.records), s.children
		f.mu.Unlock()
		if closed {
			send("SubscribeToShardEvent", map[string]any{"Records": recs, "MillisBehindLatest": 0, "ChildShards": children})
			return
		}
		if !send("SubscribeToShardEvent", map[string]any{"Records": recs, "ContinuationSequenceNumber": cont, "MillisBehindLatest": 42}) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func fanOutConfig(f *fanOutFake, d *fakeDynamo) worker.Config {
	cfg := testConfig(f.fakeKinesis, d)
	cfg.Kinesis = f
	cfg.ConsumerName = "app-efo"
	return cfg
}

// TestFanOutDeliveryResubscribeAndShardEnd: the consumer is registered and
// waited for until ACTIVE; every record arrives once, in order, through
// subscriptions the server ends after three events (resubscribed after the
// last ContinuationSequenceNumber handed to the processor) and through
// ResourceInUseException and LimitExceededException answers (retried);
// MillisBehindLatest is passed through; the closed shard's last event
// (ChildShards, no ContinuationSequenceNumber) ends the shard and its child
// is processed after it.
func TestFanOutDeliveryResubscribeAndShardEnd(t *testing.T) {
	f, d := newFanOutFake(t), newFakeDynamo()
	f.creating = 2
	f.subErrs = []string{"ResourceInUseException", "LimitExceededException"}
	f.add("shardId-0")
	var want []string
	for j := range 30 {
		f.put("shardId-0", fmt.Sprint("pk-", j), []byte(fmt.Sprint("rec-", j)))
		want = append(want, fmt.Sprint("rec-", j))
	}
	f.find("shardId-0").closed = true
	f.add("shardId-1", "shardId-0")
	f.find("shardId-0").children = []ktypes.ChildShard{{ShardId: aws.String("shardId-1"), ParentShards: []string{"shardId-0"},
		HashKeyRange: &ktypes.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("9")}}}
	f.put("shardId-1", "pk-child", []byte("child"))
	var millis []int64
	var mmu sync.Mutex
	p := &processors{mk: func() *recorder {
		r := &recorder{}
		r.onBatch = func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			mmu.Lock()
			millis = append(millis, in.MillisBehindLatest)
			mmu.Unlock()
			return in.Checkpointer.Checkpoint(ctx)
		}
		return r
	}}
	stop := run(t, fanOutConfig(f, d), p.factory)
	eventually(t, "the child's record", func() bool { r := p.get("shardId-1"); return r != nil && r.count() == 1 })
	require.NoError(t, stop())
	var got []string
	for _, r := range p.get("shardId-0").records {
		got = append(got, string(r.Data))
	}
	require.Equal(t, want, got, "every record once, in order")
	require.True(t, p.get("shardId-0").has("shardEnded"))
	require.Equal(t, "SHARD_END", sval(d.row("app", "shardId-0")["checkpoint"]))
	f.cmu.Lock()
	defer f.cmu.Unlock()
	require.Equal(t, 1, f.registers, "registered once")
	require.Equal(t, "TRIM_HORIZON", f.subscribes[0])
	afters := 0
	for _, s := range f.subscribes {
		if strings.HasPrefix(s, "AFTER_SEQUENCE_NUMBER ") {
			afters++
		}
	}
	require.GreaterOrEqual(t, afters, 2, "resubscribed after the continuation: %v", f.subscribes)
	mmu.Lock()
	require.Contains(t, millis, int64(42), "MillisBehindLatest passed through")
	mmu.Unlock()
}

// TestFanOutResumesAtCheckpoint: a lease with a checkpoint subscribes
// AT_SEQUENCE_NUMBER of it and delivers only the records after it.
func TestFanOutResumesAtCheckpoint(t *testing.T) {
	f, d := newFanOutFake(t), newFakeDynamo()
	f.add("shardId-0")
	var seqs []string
	for j := range 10 {
		seqs = append(seqs, f.put("shardId-0", fmt.Sprint("pk-", j), []byte(fmt.Sprint("rec-", j))))
	}
	_, _ = d.CreateTable(context.Background(), nil2())
	require.NoError(t, putLease(d, "shardId-0", seqs[5], 0))
	p := &processors{}
	stop := run(t, fanOutConfig(f, d), p.factory)
	eventually(t, "4 records", func() bool { r := p.get("shardId-0"); return r != nil && r.count() == 4 })
	require.NoError(t, stop())
	require.Equal(t, "rec-6", string(p.get("shardId-0").records[0].Data))
	f.cmu.Lock()
	require.Equal(t, "AT_SEQUENCE_NUMBER "+seqs[5], f.subscribes[0])
	f.cmu.Unlock()
}

// TestFanOutBackPressure: while the processor is inside ProcessRecords no
// further event is handed over (the server's 100 events of 64 KiB wait in
// the SDK's reader and the connection), and all arrive once it returns.
func TestFanOutBackPressure(t *testing.T) {
	f, d := newFanOutFake(t), newFakeDynamo()
	f.perSub, f.batch = 1000, 1
	f.add("shardId-0")
	big := make([]byte, 64<<10)
	for j := range 100 {
		f.put("shardId-0", fmt.Sprint("pk-", j), big)
	}
	release := make(chan struct{})
	var calls int
	var cmu sync.Mutex
	p := &processors{mk: func() *recorder {
		r := &recorder{}
		r.onBatch = func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			cmu.Lock()
			calls++
			cmu.Unlock()
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		return r
	}}
	stop := run(t, fanOutConfig(f, d), p.factory)
	eventually(t, "the first batch", func() bool { cmu.Lock(); defer cmu.Unlock(); return calls == 1 })
	time.Sleep(300 * time.Millisecond)
	cmu.Lock()
	require.Equal(t, 1, calls, "no second batch while the first is processed")
	cmu.Unlock()
	close(release)
	eventually(t, "every record", func() bool { return p.get("shardId-0").count() == 100 })
	require.NoError(t, stop())
}

// TestFanOutRegistration: an existing consumer is reused (not registered
// again); a given ConsumerARN is used as is.
func TestFanOutRegistration(t *testing.T) {
	for _, byARN := range []bool{false, true} {
		f, d := newFanOutFake(t), newFakeDynamo()
		f.add("shardId-0")
		f.put("shardId-0", "pk", []byte("x"))
		f.addConsumer("app-efo")
		cfg := fanOutConfig(f, d)
		if byARN {
			cfg.ConsumerName, cfg.ConsumerARN = "", fakeStreamARN+"/consumer/app-efo:1"
		}
		p := &processors{}
		stop := run(t, cfg, p.factory)
		eventually(t, "the record", func() bool { r := p.get("shardId-0"); return r != nil && r.count() == 1 })
		require.NoError(t, stop())
		require.Equal(t, 0, f.registers)
	}
}

// TestFanOutDenied: without kinesis:RegisterStreamConsumer Run returns a
// *FanOutError naming the permission; with FanOutFallbackToPolling it reads
// by polling instead.
func TestFanOutDenied(t *testing.T) {
	f, d := newFanOutFake(t), newFakeDynamo()
	f.add("shardId-0")
	f.put("shardId-0", "pk", []byte("x"))
	f.registerEr = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:iam::1:user/u is not authorized to perform: kinesis:RegisterStreamConsumer"}
	cfg := fanOutConfig(f, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := worker.Run(ctx, cfg, (&processors{}).factory)
	require.ErrorIs(t, err, worker.ErrFanOut)
	var fe *worker.FanOutError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "kinesis:RegisterStreamConsumer", fe.Permission)
	require.Contains(t, err.Error(), "kinesis:RegisterStreamConsumer")

	cfg.FanOutFallbackToPolling = true
	p := &processors{}
	stop := run(t, cfg, p.factory)
	eventually(t, "the record, by polling", func() bool { r := p.get("shardId-0"); return r != nil && r.count() == 1 })
	require.NoError(t, stop())
	f.cmu.Lock()
	require.Empty(t, f.subscribes)
	f.cmu.Unlock()
}

func TestRetrievalModeConfig(t *testing.T) {
	d := newFakeDynamo()
	for _, tc := range []struct {
		name string
		cfg  func(*worker.Config)
		want string
	}{
		{"bad mode", func(c *worker.Config) { c.RetrievalMode = "PUSH" }, `RetrievalMode "PUSH": want FANOUT or POLLING`},
		{"fanout without FanOutAPI", func(c *worker.Config) { c.RetrievalMode = worker.RetrievalFanOut }, "does not implement FanOutAPI"},
		{"consumer name without FanOutAPI", func(c *worker.Config) { c.ConsumerName = "x" }, "does not implement FanOutAPI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(&fakeKinesis{}, d)
			tc.cfg(&cfg)
			err := worker.Run(context.Background(), cfg, (&processors{}).factory)
			require.ErrorIs(t, err, worker.ErrConfig)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDeregisterConsumer(t *testing.T) {
	f := newFanOutFake(t)
	f.addConsumer("app")
	cfg := worker.Config{StreamName: "s", ApplicationName: "app", Kinesis: f}
	require.NoError(t, worker.DeregisterConsumer(context.Background(), cfg))
	require.Empty(t, f.consumers)
	require.NoError(t, worker.DeregisterConsumer(context.Background(), cfg), "an absent consumer is not an error")
	err := worker.DeregisterConsumer(context.Background(), worker.Config{Kinesis: f})
	require.True(t, errors.Is(err, worker.ErrConfig), "%v", err)
}

// TestFanOutMetrics: SubscribeToShard calls (a throttled one among them)
// and records per event, read through the SDK's ManualReader.
func TestFanOutMetrics(t *testing.T) {
	m := telemetrytest.New(t)
	f, d := newFanOutFake(t), newFakeDynamo()
	f.subErrs = []string{"LimitExceededException"}
	f.add("shardId-0")
	for j := range 10 {
		f.put("shardId-0", fmt.Sprint("pk-", j), []byte(fmt.Sprint("rec-", j)))
	}
	var p processors
	cfg := fanOutConfig(f, d)
	cfg.MeterProvider = m.Provider
	stop := run(t, cfg, p.factory)
	eventually(t, "10 records", func() bool { r := p.get("shardId-0"); return r != nil && r.count() == 10 })
	require.NoError(t, stop())
	s := m.Collect(t)
	shard := telemetry.KeyShard.String("shardId-0")
	calls, _ := s.Count(telemetry.NameSubscribeDuration, shard)
	require.GreaterOrEqual(t, calls, uint64(2), "the throttled call and the one that opened")
	failed, _ := s.Count(telemetry.NameSubscribeDuration, shard, telemetry.KeyErrorType.String("LimitExceededException"))
	require.Equal(t, uint64(1), failed)
	require.Equal(t, int64(1), s.Sum(telemetry.NameSubscribeThrottles, shard))
	events, records := s.Count(telemetry.NameSubscribeRecords, shard)
	require.GreaterOrEqual(t, events, uint64(1))
	require.Equal(t, float64(10), records, "every record counted once across the events")
}
