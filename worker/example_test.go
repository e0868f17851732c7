package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kclgo/kclgo/checkpointer"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/worker"
)

// A native consumer: the same per-record processor that runs under the
// daemon, one per shard, in one process.
func ExampleRun() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	cfg := worker.Config{
		StreamName:      "orders",
		ApplicationName: "orders-indexer", // the lease table, shared with Java workers of this application
		InitialPosition: "TRIM_HORIZON",
		Kinesis:         kinesis.NewFromConfig(awsCfg),
		DynamoDB:        dynamodb.NewFromConfig(awsCfg),
	}
	err = worker.Run(ctx, cfg, func(shardID string) kcl.RecordProcessor {
		return &kcl.PerRecord{
			Handle: func(ctx context.Context, r kcl.Record) (bool, error) {
				fmt.Printf("%s %s\n", r.PartitionKey, r.Data)
				return false, nil
			},
			Policy: checkpointer.EveryRecords(1000),
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// The worker over in-memory fakes of Kinesis and DynamoDB: three records,
// a checkpoint at the last, and the lease released at shutdown.
func ExampleRun_fakes() {
	k, d := &fakeKinesis{}, newFakeDynamo()
	k.add("shardId-000000000000")
	for _, s := range []string{"a", "b", "c"} {
		k.put("shardId-000000000000", "pk-"+s, []byte(s))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg := testConfig(k, d)
	done := make(chan error)
	seen := 0
	go func() {
		done <- worker.Run(ctx, cfg, func(string) kcl.RecordProcessor {
			return &kcl.PerRecord{Handle: func(ctx context.Context, r kcl.Record) (bool, error) {
				fmt.Println("record", string(r.Data))
				if seen++; seen == 3 {
					cancel() // stop after the third record
				}
				return false, nil
			}}
		})
	}()
	fmt.Println("Run:", <-done)
	row := d.row("app", "shardId-000000000000")
	fmt.Println("checkpoint at the last record:", sval(row["checkpoint"]) == *k.shards[0].records[2].SequenceNumber)
	fmt.Println("owner after shutdown:", sval(row["leaseOwner"]) == "")
	// Output:
	// record a
	// record b
	// record c
	// Run: <nil>
	// checkpoint at the last record: true
	// owner after shutdown: true
}
