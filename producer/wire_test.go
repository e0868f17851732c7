package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestPutRecordsJSONMatchesSDK sends the same PutRecords through the SDK's
// serializer and through putRecordsOptions to a local server: the bodies
// decode to the same JSON value, and the headers the protocol sets agree.
func TestPutRecordsJSONMatchesSDK(t *testing.T) {
	var bodies [][]byte
	var targets, types_ []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
		targets = append(targets, r.Header.Get("X-Amz-Target"))
		types_ = append(types_, r.Header.Get("Content-Type"))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"FailedRecordCount":0,"Records":[]}`))
	}))
	defer srv.Close()
	c := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	for _, in := range []*kinesis.PutRecordsInput{
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{Data: []byte("hello"), PartitionKey: aws.String("k")},
			{Data: []byte{}, PartitionKey: aws.String(`q"uo\te` + "\x01\u00e9\u2028<>&"), ExplicitHashKey: aws.String("42")},
			{Data: bytes.Repeat([]byte{0xff, 0, 7}, 1000), PartitionKey: aws.String("\xff invalid UTF-8")},
		}},
		{StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/s"), Records: []types.PutRecordsRequestEntry{
			{Data: []byte("x"), PartitionKey: aws.String("a"), ExplicitHashKey: aws.String("340282366920938463463374607431768211455")}}},
	} {
		bodies, targets, types_ = nil, nil, nil
		if _, err := c.PutRecords(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutRecords(context.Background(), in, putRecordsOptions); err != nil {
			t.Fatal(err)
		}
		var sdk, ours any
		if err := json.Unmarshal(bodies[0], &sdk); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(bodies[1], &ours); err != nil {
			t.Fatalf("our body %q: %v", bodies[1], err)
		}
		if !reflect.DeepEqual(sdk, ours) {
			t.Errorf("bodies differ:\nSDK  %.300s\nours %.300s", bodies[0], bodies[1])
		}
		if targets[0] != targets[1] || types_[0] != types_[1] {
			t.Errorf("headers differ: %q %q, %q %q", targets[0], targets[1], types_[0], types_[1])
		}
	}
}

// FuzzPutRecordsJSON: the body decodes to what was put.
func FuzzPutRecordsJSON(f *testing.F) {
	f.Add("k", "", []byte("data"), "s")
	f.Add(`"\`, "0", []byte{}, "\x00\u2028")
	f.Fuzz(func(t *testing.T, pk, ehk string, data []byte, stream string) {
		in := &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []types.PutRecordsRequestEntry{
			{Data: data, PartitionKey: aws.String(pk)}, {Data: data, PartitionKey: aws.String(pk), ExplicitHashKey: aws.String(ehk)}}}
		var got struct {
			Records []struct {
				Data            []byte
				PartitionKey    string
				ExplicitHashKey *string
			}
			StreamName string
		}
		b := putRecordsJSON(in)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		want, _ := json.Marshal(pk) // encoding/json's view of the key (invalid UTF-8 becomes U+FFFD)
		var wantPK, wantEHK, wantStream string
		_ = json.Unmarshal(want, &wantPK)
		q, _ := json.Marshal(ehk)
		_ = json.Unmarshal(q, &wantEHK)
		q, _ = json.Marshal(stream)
		_ = json.Unmarshal(q, &wantStream)
		if len(got.Records) != 2 || got.StreamName != wantStream || got.Records[1].ExplicitHashKey == nil ||
			*got.Records[1].ExplicitHashKey != wantEHK || got.Records[0].ExplicitHashKey != nil {
			t.Fatalf("%q decoded to %+v", b, got)
		}
		for _, r := range got.Records {
			if !bytes.Equal(r.Data, data) || r.PartitionKey != wantPK {
				t.Fatalf("%q decoded to %+v", b, got)
			}
		}
	})
}
