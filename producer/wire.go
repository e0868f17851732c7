package producer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// putRecordsOptions are the per-call options of every PutRecords: the
// producer owns the retries (the SDK's retryer is off, so every request is
// an attempt it counts), and the request body is written by putRecordsJSON.
func putRecordsOptions(o *kinesis.Options) {
	o.Retryer = aws.NopRetryer{}
	if o.Protocol != nil && o.Protocol.ID() == awsJSON11 {
		o.Protocol = putRecordsProtocol{o.Protocol}
	}
}

var awsJSON11 = smithy.ShapeID{Namespace: "aws.protocols", Name: "awsJson1_1"}

// putRecordsProtocol is the SDK's awsJson1_1 protocol, except that it
// serializes a PutRecordsInput itself into one buffer of the exact size. The
// SDK's serializer grows its buffer by appending each base64 blob (about five
// copies of every byte for a 5 MiB call) and copies it once more at the end:
// a sixth of the producer's CPU on small aggregated records.
type putRecordsProtocol struct {
	smithyhttp.ClientProtocol
}

// SerializeRequest implements smithyhttp.ClientProtocol.
func (p putRecordsProtocol) SerializeRequest(ctx context.Context, schema *smithy.OperationSchema, in smithy.Serializable, req *smithyhttp.Request) error {
	pin, ok := in.(*kinesis.PutRecordsInput)
	if !ok {
		return p.ClientProtocol.SerializeRequest(ctx, schema, in, req)
	}
	req.Method = http.MethodPost
	if len(req.URL.Path) == 0 {
		req.URL.Path = "/"
	}
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sreq, err := req.SetStream(bytes.NewReader(putRecordsJSON(pin)))
	if err != nil {
		return fmt.Errorf("set stream: %w", err)
	}
	*req = *sreq
	return nil
}

// putRecordsJSON writes in as the PutRecords request body, as the SDK would
// (members in the same order, omitted when nil), into one allocation.
func putRecordsJSON(in *kinesis.PutRecordsInput) []byte {
	n := len(`{"Records":[],"StreamARN":"","StreamName":""}`) + len(aws.ToString(in.StreamARN)) + len(aws.ToString(in.StreamName))
	for _, e := range in.Records {
		n += len(`{"Data":"","ExplicitHashKey":"","PartitionKey":""},`) + base64.StdEncoding.EncodedLen(len(e.Data)) +
			len(aws.ToString(e.ExplicitHashKey)) + len(aws.ToString(e.PartitionKey))
	}
	b := make([]byte, 0, n+64) // escapes in keys may need more; append grows then
	b = append(b, `{"Records":[`...)
	for i, e := range in.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Data":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.Data)
		b = append(b, '"')
		if e.ExplicitHashKey != nil {
			b = append(b, `,"ExplicitHashKey":`...)
			b = appendJSONString(b, *e.ExplicitHashKey)
		}
		if e.PartitionKey != nil {
			b = append(b, `,"PartitionKey":`...)
			b = appendJSONString(b, *e.PartitionKey)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if in.StreamARN != nil {
		b = append(b, `,"StreamARN":`...)
		b = appendJSONString(b, *in.StreamARN)
	}
	if in.StreamName != nil {
		b = append(b, `,"StreamName":`...)
		b = appendJSONString(b, *in.StreamName)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: as is when it needs no
// escape, else as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
