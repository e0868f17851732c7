package producer_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kclgo/kclgo/producer"
)

// TestEmulatorReshard splits a shard mid-run; every record still arrives
// exactly once. Moto keeps routing puts to the closed parent, so the
// producer running across the split sees nothing wrong; a second producer
// started after the split predicts the children, sees its aggregates land on
// the parent, which its map knows closed (so it does not re-read the map:
// that would not change), and counts them delivered because the parent's
// range holds all their user records. (Detection of a real
// misroute, where an aggregate must be re-sent, is TestReshardReroutesAggregates.)
func TestEmulatorReshard(t *testing.T) {
	url := emulator(t)
	checkGoroutines(t)
	c := kinesisClient(url)
	stream := createStream(t, c, 2)
	cfg := producer.Config{StreamName: stream, Linger: 10 * time.Millisecond, ShardMapMinInterval: 10 * time.Millisecond}
	p, err := producer.New(context.Background(), c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var p2 *producer.Producer // started after the split
	const n, keys = 4000, 50
	put := func(from, to int) {
		for i := from; i < to; i++ {
			pk, data := loadRecord(0, i, keys)
			if i >= n/2 {
				pk2, data2 := loadRecord(1, i, keys)
				if err := p2.Put(context.Background(), pk2, data2); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Put(context.Background(), pk, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, n/2)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	splitFirstShard(t, c, stream)
	if p2, err = producer.New(context.Background(), c, cfg); err != nil {
		t.Fatal(err)
	}
	for i := n / 2; i < n; i += 100 {
		put(i, i+100)
		time.Sleep(15 * time.Millisecond) // several batches, so a refresh can happen
	}
	for _, p := range []*producer.Producer{p, p2} {
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st := p2.Stats()
	t.Logf("stats of the producer started after the split: %+v", st)
	if st.ShardMapRefreshes != 0 && routesToClosedParent(t, c) {
		t.Errorf("%d shard-map refreshes for puts on a shard the map knows closed", st.ShardMapRefreshes)
	}
	got := readAll(t, c, stream)
	res := checkLoad(t, got, 2, n, keys)
	for w := range 2 {
		for i, k := range res.seen[w] {
			want := 1
			if w == 1 && i < n/2 {
				want = 0 // p2 only put the second half
			}
			if k != want {
				t.Errorf("record %d/%d read %d times, want %d", w, i, k, want)
			}
		}
	}
}

// routesToClosedParent reports whether the emulator still has moto's quirk of
// routing puts to a split shard's closed parent, on a stream of its own.
func routesToClosedParent(t *testing.T, c *kinesis.Client) bool {
	ctx := context.Background()
	stream := createStream(t, c, 1)
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	parent := shards.Shards[0].ShardId
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: parent,
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []types.PutRecordsRequestEntry{
		{Data: []byte("probe"), PartitionKey: aws.String("probe"), ExplicitHashKey: aws.String("0")}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Records[0].ShardId) == aws.ToString(parent)
}
