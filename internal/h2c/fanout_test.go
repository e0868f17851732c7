package h2c

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const testConsumer = "arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c1:1796156733"

// fakeKinesisLocal answers SubscribeToShard as kinesis-local 0.6.2 does
// (testdata/kinesis-local-subscribe.txt, probed): HTTP 200, no initial-response
// event, events of the real event-stream encoding, and for a second
// subscription a ResourceInUseException message. Shard 0 is closed after
// its events (GetRecords past them has no next iterator and lists the
// children); shard 1 is open and streams events until the client goes.
type fakeKinesisLocal struct {
	t      *testing.T
	mu     sync.Mutex
	active map[string]bool
	events map[string][]string // shard → event payloads
}

func (f *fakeKinesisLocal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	_ = json.NewDecoder(r.Body).Decode(&req)
	if r.Header.Get("Authorization") == "" || r.Header.Get("X-Amz-Date") == "" {
		f.t.Errorf("%s without the client's signature headers", r.Header.Get("X-Amz-Target"))
	}
	enc := eventstream.NewEncoder()
	switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) {
	case "SubscribeToShard":
		shard := req["ShardId"].(string)
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		f.mu.Lock()
		busy := f.active[shard]
		f.active[shard] = true
		f.mu.Unlock()
		if busy {
			var m eventstream.Message
			m.Headers.Set(":message-type", eventstream.StringValue("exception"))
			m.Headers.Set(":exception-type", eventstream.StringValue("ResourceInUseException"))
			m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
			m.Payload = []byte(`{"message":"Another active subscription exists for consumer ` + testConsumer + ` on shard ` + shard + `"}`)
			_ = enc.Encode(w, m)
			return
		}
		defer func() {
			f.mu.Lock()
			delete(f.active, shard)
			f.mu.Unlock()
		}()
		for i := 0; ; i++ {
			p := `{"Records":[],"ContinuationSequenceNumber":"102","MillisBehindLatest":0,"ChildShards":null}`
			if i < len(f.events[shard]) {
				p = f.events[shard][i]
			}
			var m eventstream.Message
			m.Headers.Set(":message-type", eventstream.StringValue("event"))
			m.Headers.Set(":event-type", eventstream.StringValue("SubscribeToShardEvent"))
			m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
			m.Payload = []byte(p)
			if err := enc.Encode(w, m); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	case "GetShardIterator":
		if req["ShardIteratorType"] != "AFTER_SEQUENCE_NUMBER" || req["StreamName"] != "s1" {
			f.t.Errorf("GetShardIterator %v", req)
		}
		fmt.Fprintf(w, `{"ShardIterator":"it-%s-%s"}`, req["ShardId"], req["StartingSequenceNumber"])
	case "GetRecords":
		if req["ShardIterator"] == "it-shardId-000000000000-102" {
			_, _ = io.WriteString(w, `{"Records":[],"MillisBehindLatest":0,"ChildShards":[
				{"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"4"}},
				{"ShardId":"shardId-000000000003","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"5","EndingHashKey":"9"}}]}`)
			return
		}
		_, _ = io.WriteString(w, `{"Records":[],"NextShardIterator":"next","MillisBehindLatest":0}`)
	}
}

var testEvents = map[string][]string{
	"shardId-000000000000": {
		`{"Records":[{"ApproximateArrivalTimestamp":1796156746.176,"Data":"cmVjLTA=","EncryptionType":"NONE","PartitionKey":"pk","SequenceNumber":"101"}],"ContinuationSequenceNumber":"101","MillisBehindLatest":7,"ChildShards":null}`,
		`{"Records":[{"ApproximateArrivalTimestamp":1796156746.184,"Data":"cmVjLTE=","EncryptionType":"NONE","PartitionKey":"pk","SequenceNumber":"102"}],"ContinuationSequenceNumber":"102","MillisBehindLatest":0,"ChildShards":null}`,
	},
	"shardId-000000000001": {
		`{"Records":[{"ApproximateArrivalTimestamp":1796156746.176,"Data":"b3Blbg==","EncryptionType":"NONE","PartitionKey":"pk","SequenceNumber":"201"}],"ContinuationSequenceNumber":"201","MillisBehindLatest":0,"ChildShards":null}`,
	},
}

func startFanOutProxy(t *testing.T, max time.Duration) (*fakeKinesisLocal, string) {
	t.Helper()
	fake := &fakeKinesisLocal{t: t, active: map[string]bool{}, events: testEvents}
	up := httptest.NewServer(fake)
	t.Cleanup(up.Close)
	target, _ := url.Parse(up.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(target, Options{FanOut: true, SubscriptionMax: max})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return fake, "http://" + ln.Addr().String()
}

// sdkClient is the SDK's Kinesis client speaking HTTP/2 without TLS, as it
// speaks HTTP/2 to Kinesis (which serves SubscribeToShard over HTTP/2 only).
// Over HTTP/1.1 the SDK (1.48, smithy-go 1.28) loses about half of the
// subscriptions a moment after they start ("use of closed network
// connection"), against this proxy and against a plain server alike.
func sdkClient(endpoint string) *kinesis.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		HTTPClient:  &http.Client{Transport: &http.Transport{Protocols: &p}},
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

func subscribe(ctx context.Context, c *kinesis.Client, shard string) (*kinesis.SubscribeToShardOutput, error) {
	return c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(testConsumer), ShardId: aws.String(shard),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
}

// TestFanOutSDKReadsClosedShard: the Go SDK v2's own SubscribeToShard reads
// the fixed stream: the records with their data, MillisBehindLatest, and
// at the closed shard's end one last event with ChildShards and no
// ContinuationSequenceNumber, then the stream ends without an error.
func TestFanOutSDKReadsClosedShard(t *testing.T) {
	_, ep := startFanOutProxy(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := subscribe(ctx, sdkClient(ep), "shardId-000000000000")
	if err != nil {
		t.Fatalf("SubscribeToShard through the fixer: %v", err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var data []string
	var last *types.SubscribeToShardEvent
	n := 0
	for ev := range stream.Events() {
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		if n++; n == 1 && aws.ToInt64(e.Value.MillisBehindLatest) != 7 {
			t.Errorf("MillisBehindLatest %v, want 7", aws.ToInt64(e.Value.MillisBehindLatest))
		}
		for _, r := range e.Value.Records {
			data = append(data, string(r.Data))
		}
		last = &e.Value
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	if strings.Join(data, ",") != "rec-0,rec-1" {
		t.Errorf("records %v", data)
	}
	if last == nil || last.ContinuationSequenceNumber != nil || len(last.ChildShards) != 2 ||
		aws.ToString(last.ChildShards[0].ShardId) != "shardId-000000000002" || last.ChildShards[1].ParentShards[0] != "shardId-000000000000" {
		t.Errorf("last event %+v, want no ContinuationSequenceNumber and the two children", last)
	}
	if n != 3 {
		t.Errorf("%d events, want 3 (two with records, the shard's end)", n)
	}
}

// TestFanOutResourceInUse: a second subscription, which kinesis-local
// answers with an exception message in a 200 stream, reaches the SDK as the
// service's HTTP 400, a typed *types.ResourceInUseException.
func TestFanOutResourceInUse(t *testing.T) {
	_, ep := startFanOutProxy(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := sdkClient(ep)
	first, err := subscribe(ctx, c, "shardId-000000000001")
	if err != nil {
		t.Fatal(err)
	}
	defer first.GetStream().Close()
	<-first.GetStream().Events()
	_, err = subscribe(ctx, c, "shardId-000000000001")
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("second SubscribeToShard: %v, want a *types.ResourceInUseException", err)
	}
}

// TestFanOutSubscriptionMax: with SubscriptionMax an open shard's stream
// ends cleanly after that long, as the service's do after 5 minutes.
func TestFanOutSubscriptionMax(t *testing.T) {
	_, ep := startFanOutProxy(t, 150*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := subscribe(ctx, sdkClient(ep), "shardId-000000000001")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range out.GetStream().Events() {
		n++
	}
	if err := out.GetStream().Err(); err != nil {
		t.Errorf("stream ended with %v, want a clean end", err)
	}
	if n < 2 {
		t.Errorf("%d events before the end", n)
	}
}

// TestFanOutWireEncoding reads the fixed stream byte for byte with the
// event-stream decoder (prelude and message CRCs checked): the first
// message is the initial-response event the service sends, and the
// emulator's events follow unchanged.
func TestFanOutWireEncoding(t *testing.T) {
	_, ep := startFanOutProxy(t, 0)
	body := `{"ConsumerARN":"` + testConsumer + `","ShardId":"shardId-000000000000","StartingPosition":{"Type":"TRIM_HORIZON"}}`
	req, _ := http.NewRequest(http.MethodPost, ep, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", targetPrefix+"SubscribeToShard")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Date", "20261201T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(raw)
	var types []string
	var payloads []string
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("message %d: %v", len(types), err)
		}
		types = append(types, headerString(m.Headers, ":message-type")+"/"+headerString(m.Headers, ":event-type"))
		payloads = append(payloads, string(m.Payload))
	}
	want := "event/initial-response event/SubscribeToShardEvent event/SubscribeToShardEvent event/SubscribeToShardEvent"
	if strings.Join(types, " ") != want {
		t.Fatalf("messages %v, want %s", types, want)
	}
	if payloads[0] != "{}" || payloads[1] != testEvents["shardId-000000000000"][0] {
		t.Errorf("payloads %q", payloads[:2])
	}
	// A flipped bit in a message is caught by its CRC: the check above is real.
	raw[len(raw)-6] ^= 1
	r = bytes.NewReader(raw)
	var err2 error
	for r.Len() > 0 && err2 == nil {
		_, err2 = dec.Decode(r, nil)
	}
	if err2 == nil {
		t.Error("a corrupted stream decoded without error")
	}
}

func TestStreamOfConsumer(t *testing.T) {
	for arn, want := range map[string]string{
		testConsumer: "s1",
		"arn:aws:kinesis:eu-west-1:1:stream/my.stream-2/consumer/x:1": "my.stream-2",
		"nonsense":                            "",
		"arn:aws:kinesis:eu-west-1:1:stream/": "",
	} {
		if got := streamOfConsumer(arn); got != want {
			t.Errorf("streamOfConsumer(%q) = %q, want %q", arn, got, want)
		}
	}
}

// FuzzFixStream: whatever the upstream sends after a valid first event, the
// fixer never panics, and what it wrote decodes as event-stream messages
// starting with the initial-response event.
func FuzzFixStream(f *testing.F) {
	var seed bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, p := range testEvents["shardId-000000000000"] {
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue("SubscribeToShardEvent"))
		m.Payload = []byte(p)
		_ = enc.Encode(&seed, m)
	}
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0})
	f.Add([]byte(`{"Records":[]}`))
	f.Fuzz(func(t *testing.T, upstream []byte) {
		fx := &fanOutFixer{upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}, client: &http.Client{Timeout: time.Millisecond}}
		var first eventstream.Message
		first.Headers.Set(":event-type", eventstream.StringValue("SubscribeToShardEvent"))
		first.Payload = []byte(`{"Records":[{"SequenceNumber":"1"}],"ContinuationSequenceNumber":"1"}`)
		var out bytes.Buffer
		_ = fx.fixStream(context.Background(), &subscription{shard: "shardId-000000000000"}, first, eventstream.NewDecoder(), bytes.NewReader(upstream), &out)
		m, err := eventstream.NewDecoder().Decode(&out, nil)
		if err != nil || headerString(m.Headers, ":event-type") != "initial-response" {
			t.Fatalf("first message %v, %v", m.Headers, err)
		}
	})
}

// FuzzParseEvent: any payload is read or refused without a panic, and
// lastEvent always writes valid JSON.
func FuzzParseEvent(f *testing.F) {
	for _, p := range testEvents["shardId-000000000000"] {
		f.Add([]byte(p))
	}
	f.Add([]byte(`{"ContinuationSequenceNumber":"x"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		ev, ok := parseEvent(p)
		if !ok {
			return
		}
		if !json.Valid(lastEvent(ev.MillisBehind, p)) && json.Valid(p) {
			t.Fatalf("lastEvent wrote invalid JSON for %q", p)
		}
	})
}
