package worker_test

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeDynamo is an in-memory DynamoDB with the legacy Expected conditions
// and AttributeUpdates the Java KCL's lease refresher uses. A unit-test
// stand-in only: the end-to-end tests run against moto and dynalite.
type fakeDynamo struct {
	mu     sync.Mutex
	tables map[string]map[string]map[string]dtypes.AttributeValue
}

func newFakeDynamo() *fakeDynamo {
	return &fakeDynamo{tables: map[string]map[string]map[string]dtypes.AttributeValue{}}
}

func (f *fakeDynamo) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tables[*in.TableName]; ok {
		return nil, &dtypes.ResourceInUseException{Message: aws.String("exists")}
	}
	f.tables[*in.TableName] = map[string]map[string]dtypes.AttributeValue{}
	return &dynamodb.CreateTableOutput{}, nil
}

func (f *fakeDynamo) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tables[*in.TableName]; !ok {
		return nil, &dtypes.ResourceNotFoundException{Message: aws.String("no table")}
	}
	return &dynamodb.DescribeTableOutput{Table: &dtypes.TableDescription{TableStatus: dtypes.TableStatusActive}}, nil
}

func (f *fakeDynamo) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out dynamodb.ScanOutput
	for _, it := range f.tables[*in.TableName] {
		out.Items = append(out.Items, clone(it))
	}
	return &out, nil
}

func (f *fakeDynamo) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.tables[*in.TableName][sval(in.Key["leaseKey"])]
	return &dynamodb.GetItemOutput{Item: clone(it)}, nil
}

func (f *fakeDynamo) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[*in.TableName]
	key := sval(in.Item["leaseKey"])
	if err := check(t[key], in.Expected); err != nil {
		return nil, err
	}
	t[key] = clone(in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDynamo) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[*in.TableName]
	key := sval(in.Key["leaseKey"])
	it := t[key]
	if err := check(it, in.Expected); err != nil {
		return nil, err
	}
	if it == nil {
		it = clone(in.Key)
	}
	for name, u := range in.AttributeUpdates {
		switch u.Action {
		case dtypes.AttributeActionPut:
			it[name] = u.Value
		case dtypes.AttributeActionDelete:
			delete(it, name)
		case dtypes.AttributeActionAdd:
			n, _ := strconv.ParseInt(nval(it[name]), 10, 64)
			d, _ := strconv.ParseInt(nval(u.Value), 10, 64)
			it[name] = &dtypes.AttributeValueMemberN{Value: strconv.FormatInt(n+d, 10)}
		}
	}
	t[key] = it
	return &dynamodb.UpdateItemOutput{}, nil
}

func (f *fakeDynamo) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := sval(in.Key["leaseKey"])
	if err := check(f.tables[*in.TableName][key], in.Expected); err != nil {
		return nil, err
	}
	delete(f.tables[*in.TableName], key)
	return &dynamodb.DeleteItemOutput{}, nil
}

// set writes attributes of a row directly, as another worker would.
func (f *fakeDynamo) set(table, key string, attrs map[string]dtypes.AttributeValue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.tables[table][key]
	for k, v := range attrs {
		it[k] = v
	}
}

// row returns a copy of a row.
func (f *fakeDynamo) row(table, key string) map[string]dtypes.AttributeValue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(f.tables[table][key])
}

func check(it map[string]dtypes.AttributeValue, exp map[string]dtypes.ExpectedAttributeValue) error {
	for name, e := range exp {
		v, has := it[name]
		switch {
		case e.Exists != nil && !*e.Exists:
			if has {
				return &dtypes.ConditionalCheckFailedException{Message: aws.String(name + " exists")}
			}
		case e.Value != nil:
			if !has || fmt.Sprint(v) != fmt.Sprint(e.Value) {
				return &dtypes.ConditionalCheckFailedException{Message: aws.String(name + " differs")}
			}
		}
	}
	return nil
}

func clone(m map[string]dtypes.AttributeValue) map[string]dtypes.AttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]dtypes.AttributeValue, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sval(v dtypes.AttributeValue) string {
	if s, ok := v.(*dtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func nval(v dtypes.AttributeValue) string {
	if s, ok := v.(*dtypes.AttributeValueMemberN); ok {
		return s.Value
	}
	return "0"
}

// fakeKinesis is an in-memory stream of shards. Iterators are
// "shard/index"; a closed shard's last GetRecords returns ChildShards and no
// next iterator. A unit-test stand-in only (see the e2e tests).
type fakeKinesis struct {
	mu     sync.Mutex
	shards []*fakeShard
	calls  int
	fail   []error // returned by the next GetRecords calls, in order
}

type fakeShard struct {
	id       string
	parents  []string
	records  []ktypes.Record
	closed   bool
	children []ktypes.ChildShard
}

func (f *fakeKinesis) add(id string, parents ...string) *fakeShard {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeShard{id: id, parents: parents}
	f.shards = append(f.shards, s)
	return s
}

// put appends a record to a shard; its sequence number grows with the
// shard's length.
func (f *fakeKinesis) put(shard string, pk string, data []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(shard)
	seq := new(big.Int).Add(big.NewInt(1e15), big.NewInt(int64(len(s.records)+1)*10)).String()
	s.records = append(s.records, ktypes.Record{Data: data, PartitionKey: aws.String(pk), SequenceNumber: aws.String(seq),
		ApproximateArrivalTimestamp: aws.Time(time.Unix(1700000000, 0))})
	return seq
}

func (f *fakeKinesis) find(id string) *fakeShard {
	for _, s := range f.shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (f *fakeKinesis) ListShards(_ context.Context, in *kinesis.ListShardsInput, _ ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.StreamName != nil && *in.StreamName != "s" {
		return nil, &ktypes.ResourceNotFoundException{Message: aws.String("Stream " + *in.StreamName + " not found")}
	}
	var out kinesis.ListShardsOutput
	for _, s := range f.shards {
		sh := ktypes.Shard{ShardId: aws.String(s.id), SequenceNumberRange: &ktypes.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}}
		if len(s.parents) > 0 {
			sh.ParentShardId = aws.String(s.parents[0])
		}
		if len(s.parents) > 1 {
			sh.AdjacentParentShardId = aws.String(s.parents[1])
		}
		if s.closed {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("9")
		}
		out.Shards = append(out.Shards, sh)
	}
	return &out, nil
}

func (f *fakeKinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(*in.ShardId)
	i := 0
	switch in.ShardIteratorType {
	case ktypes.ShardIteratorTypeLatest:
		i = len(s.records)
	case ktypes.ShardIteratorTypeAtSequenceNumber:
		for i < len(s.records) && *s.records[i].SequenceNumber != *in.StartingSequenceNumber {
			i++
		}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s/%d", s.id, i))}, nil
}

func (f *fakeKinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return nil, err
	}
	id, idx, _ := strings.Cut(*in.ShardIterator, "/")
	i, _ := strconv.Atoi(idx)
	s := f.find(id)
	n := min(len(s.records)-i, int(aws.ToInt32(in.Limit)))
	out := &kinesis.GetRecordsOutput{Records: append([]ktypes.Record(nil), s.records[i:i+n]...), MillisBehindLatest: aws.Int64(0)}
	if s.closed && i+n == len(s.records) {
		out.ChildShards = s.children
		return out, nil
	}
	out.NextShardIterator = aws.String(fmt.Sprintf("%s/%d", id, i+n))
	return out, nil
}

// nil2 is the CreateTable input of the test table "app".
func nil2() *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{TableName: aws.String("app")}
}

// putLease writes a free lease row as the Java KCL creates it.
func putLease(d *fakeDynamo, key, checkpoint string, sub int64) error {
	_, err := d.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("app"), Item: map[string]dtypes.AttributeValue{
		"leaseKey": &dtypes.AttributeValueMemberS{Value: key}, "leaseCounter": &dtypes.AttributeValueMemberN{Value: "0"},
		"ownerSwitchesSinceCheckpoint": &dtypes.AttributeValueMemberN{Value: "0"},
		"checkpoint":                   &dtypes.AttributeValueMemberS{Value: checkpoint},
		"checkpointSubSequenceNumber":  &dtypes.AttributeValueMemberN{Value: strconv.FormatInt(sub, 10)},
	}})
	return err
}
