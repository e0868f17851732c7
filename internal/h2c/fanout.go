package h2c

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// fanOutFixer makes kinesis-local's (kinesis-mock 0.6.2's) SubscribeToShard
// answer as Kinesis does, so that the AWS SDKs can read it. Checked against
// kinesis-local 0.6.2 over HTTP/1.1 (it needs no HTTP/2 for this), it
// differs from the service in four ways, each fixed here:
//
//  1. It sends no initial-response event: the service's first message is an
//     event of type initial-response (payload {}), and the Go SDK v2 fails
//     without it ("deserialize initial response: expected initial-response,
//     got SubscribeToShardEvent"). The fixer writes one first.
//  2. It reports ResourceInUseException (a second subscription of the same
//     consumer and shard, also for about a second after the first one
//     disconnected) as the first message of a 200 stream; the service
//     answers such a request with an HTTP 400 JSON error, which the SDK
//     returns as a typed error. The fixer turns a first exception message
//     into that error answer.
//  3. It never ends a closed shard's subscription: it goes on sending empty
//     events with ChildShards null. The service's last event of a closed
//     shard has no ContinuationSequenceNumber and lists ChildShards, and
//     the stream then ends. On each empty event the fixer asks the
//     emulator (GetShardIterator AFTER_SEQUENCE_NUMBER of the event's
//     ContinuationSequenceNumber, then GetRecords) whether the shard has
//     ended; if so it sends that last event, with the ChildShards
//     kinesis-local's GetRecords returns, and ends the stream.
//  4. Its subscriptions do not end after 5 minutes as the service's do.
//     With Options.SubscriptionMax the fixer ends each stream after that
//     long, at an event boundary, as the service does (clients must
//     subscribe again from the last ContinuationSequenceNumber).
//
// Messages are read and written with the event-stream encoding of the AWS
// SDK for Go v2 (package aws/protocol/eventstream: prelude, headers,
// payload, both CRCs), so every message the client gets is checked and
// framed as the service frames it.
type fanOutFixer struct {
	upstream *url.URL
	client   *http.Client
	max      time.Duration
	log      *log.Logger
}

type subscribeKey struct{}

// subscription is what the fixer learned from a SubscribeToShard request.
type subscription struct {
	stream, shard string
	header        http.Header
}

func newFanOutFixer(upstream *url.URL, max time.Duration, l *log.Logger) *fanOutFixer {
	return &fanOutFixer{upstream: upstream, client: &http.Client{Timeout: 10 * time.Second}, max: max, log: l}
}

// wrap notes the stream and shard of SubscribeToShard requests.
func (f *fanOutFixer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) != "SubscribeToShard" || !isJSON(r.Header) {
			next.ServeHTTP(w, r)
			return
		}
		var req struct{ ConsumerARN, ShardId string }
		if !peekJSON(w, r, &req) {
			return
		}
		s := &subscription{stream: streamOfConsumer(req.ConsumerARN), shard: req.ShardId, header: r.Header.Clone()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subscribeKey{}, s)))
	})
}

// streamOfConsumer returns the stream name in a consumer ARN
// (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:CREATED).
func streamOfConsumer(arn string) string {
	_, rest, ok := strings.Cut(arn, ":stream/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// modifyResponse is the ReverseProxy hook: it reads the first message and
// then pumps the rest through fixStream on a goroutine.
func (f *fanOutFixer) modifyResponse(resp *http.Response) error {
	s, _ := resp.Request.Context().Value(subscribeKey{}).(*subscription)
	if s == nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "eventstream") {
		return nil
	}
	dec := eventstream.NewDecoder()
	first, err := dec.Decode(resp.Body, nil)
	if err != nil {
		resp.Body.Close()
		return fmt.Errorf("SubscribeToShard %s: first message: %w", s.shard, err)
	}
	if headerString(first.Headers, ":message-type") == "exception" {
		resp.Body.Close()
		exType := headerString(first.Headers, ":exception-type")
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(first.Payload, &e)
		body, _ := json.Marshal(map[string]string{"__type": exType, "message": e.Message})
		resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
		resp.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp.Header.Set("X-Amzn-ErrorType", exType)
		setBody(resp, body)
		f.logf("h2cproxy: SubscribeToShard %s/%s: %s answered as HTTP 400", s.stream, s.shard, exType)
		return nil
	}
	pr, pw := io.Pipe()
	upstream := resp.Body
	resp.Body = pr
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	go func() {
		err := f.fixStream(resp.Request.Context(), s, first, dec, upstream, pw)
		upstream.Close()
		pw.CloseWithError(err)
	}()
	return nil
}

// fixStream writes the initial-response event, then every upstream message
// from first on, ending the stream at a closed shard's end or after
// f.max. It returns nil when the stream ended cleanly.
func (f *fanOutFixer) fixStream(ctx context.Context, s *subscription, first eventstream.Message, dec *eventstream.Decoder, upstream io.Reader, w io.Writer) error {
	enc := eventstream.NewEncoder()
	if err := enc.Encode(w, initialResponse()); err != nil {
		return err
	}
	start := time.Now()
	m := first
	for {
		last := false
		if headerString(m.Headers, ":event-type") == "SubscribeToShardEvent" {
			if fixed, ended := f.atShardEnd(ctx, s, m.Payload); ended {
				m.Payload, last = fixed, true
				f.logf("h2cproxy: SubscribeToShard %s/%s: the shard ended; sent ChildShards and ended the stream", s.stream, s.shard)
			}
		}
		if err := enc.Encode(w, m); err != nil {
			return err
		}
		if last {
			return nil
		}
		if f.max > 0 && time.Since(start) >= f.max {
			f.logf("h2cproxy: SubscribeToShard %s/%s: ended the stream after %s (-subscription-max)", s.stream, s.shard, f.max)
			return nil
		}
		var err error
		if m, err = dec.Decode(upstream, nil); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// initialResponse is the event the service sends first on a SubscribeToShard
// stream.
func initialResponse() eventstream.Message {
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("event"))
	m.Headers.Set(":event-type", eventstream.StringValue("initial-response"))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Payload = []byte("{}")
	return m
}

// atShardEnd returns the last event of a closed shard, and true, when the
// event payload p has no records and the emulator says the shard ended
// after its ContinuationSequenceNumber.
func (f *fanOutFixer) atShardEnd(ctx context.Context, s *subscription, p []byte) ([]byte, bool) {
	ev, ok := parseEvent(p)
	if !ok || len(ev.Records) > 0 || s.stream == "" {
		return nil, false
	}
	in := map[string]string{"StreamName": s.stream, "ShardId": s.shard, "ShardIteratorType": "TRIM_HORIZON"}
	if ev.Continuation != "" && ev.Continuation != "0" {
		in["ShardIteratorType"], in["StartingSequenceNumber"] = "AFTER_SEQUENCE_NUMBER", ev.Continuation
	}
	var it struct{ ShardIterator string }
	if err := upstreamCall(ctx, f.client, f.upstream, s.header, "GetShardIterator", in, &it); err != nil || it.ShardIterator == "" {
		return nil, false
	}
	var gr struct {
		Records           []json.RawMessage
		NextShardIterator *string
		ChildShards       json.RawMessage
	}
	if err := upstreamCall(ctx, f.client, f.upstream, s.header, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator, "Limit": 1}, &gr); err != nil {
		return nil, false
	}
	if len(gr.Records) > 0 || gr.NextShardIterator != nil {
		return nil, false
	}
	return lastEvent(ev.MillisBehind, gr.ChildShards), true
}

// event is the part of a SubscribeToShardEvent payload the fixer reads.
type event struct {
	Records      []json.RawMessage
	Continuation string `json:"ContinuationSequenceNumber"`
	MillisBehind int64  `json:"MillisBehindLatest"`
}

// parseEvent reads a SubscribeToShardEvent payload; false if it is not one.
func parseEvent(p []byte) (event, bool) {
	var ev event
	if err := json.Unmarshal(p, &ev); err != nil {
		return event{}, false
	}
	if strings.Trim(ev.Continuation, "0123456789") != "" {
		return event{}, false
	}
	return ev, true
}

// lastEvent is a closed shard's last SubscribeToShardEvent payload: no
// records, no ContinuationSequenceNumber, the child shards.
func lastEvent(millisBehind int64, children json.RawMessage) []byte {
	if len(children) == 0 || string(children) == "null" {
		children = json.RawMessage("[]")
	}
	b, _ := json.Marshal(struct {
		Records            []json.RawMessage
		MillisBehindLatest int64
		ChildShards        json.RawMessage
	}{[]json.RawMessage{}, millisBehind, children})
	return b
}

func headerString(h eventstream.Headers, name string) string {
	if v := h.Get(name); v != nil {
		return v.String()
	}
	return ""
}

func (f *fanOutFixer) logf(format string, args ...any) {
	if f.log != nil {
		f.log.Printf(format, args...)
	}
}
