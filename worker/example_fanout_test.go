package worker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/worker"
)

// Enhanced fan-out: naming a consumer selects it. The consumer is
// registered on the stream if it does not exist yet and shared by every
// worker of the application.
func ExampleRun_fanOut() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	cfg := worker.Config{
		StreamName:      "orders",
		ApplicationName: "orders-indexer",
		ConsumerName:    "orders-indexer", // RetrievalMode FANOUT by default now
		Kinesis:         kinesis.NewFromConfig(awsCfg),
		DynamoDB:        dynamodb.NewFromConfig(awsCfg),
	}
	err = worker.Run(ctx, cfg, func(string) kcl.RecordProcessor {
		return &kcl.PerRecord{Handle: func(ctx context.Context, r kcl.Record) (bool, error) {
			fmt.Printf("%s %s\n", r.PartitionKey, r.Data)
			return false, nil
		}}
	})
	var fe *worker.FanOutError
	if errors.As(err, &fe) && fe.Permission != "" {
		fmt.Fprintln(os.Stderr, "grant", fe.Permission, "or set RetrievalMode: worker.RetrievalPolling")
	}
}

// Deregistering the application's consumer when it is retired (Run never
// does): here on an in-memory fake of Kinesis.
func ExampleDeregisterConsumer() {
	f := &fanOutFake{fakeKinesis: &fakeKinesis{}, consumers: map[string]*ktypes.ConsumerDescription{}}
	f.addConsumer("orders-indexer")
	cfg := worker.Config{StreamName: "orders", ApplicationName: "orders-indexer", Kinesis: f}
	fmt.Println(worker.DeregisterConsumer(context.Background(), cfg), len(f.consumers))
	fmt.Println(worker.DeregisterConsumer(context.Background(), cfg)) // already gone: not an error
	// Output:
	// <nil> 0
	// <nil>
}
