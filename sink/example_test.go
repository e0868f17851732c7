package sink_test

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
	"github.com/kclgo/kclgo/sink"
)

// Bulk writes of up to 100 records: a record is finished, and the
// watermark may pass it, only once the write that carried it succeeded.
func Example() {
	b, err := sink.New(sink.Config{
		MaxRecords: 100,
		Flush: func(ctx context.Context, key string, records []kcl.Record) error {
			fmt.Println("bulk insert of", len(records), "records") // e.g. one INSERT, one S3 object
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	p := &kcl.Concurrent{HandleAsync: b.Add, Workers: 1, Unordered: true, MaxInFlight: 400}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{}, kcltest.Records(0, 250, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	fmt.Println("checkpoint:", res.Checkpoint)
	// Output:
	// bulk insert of 100 records
	// bulk insert of 100 records
	// bulk insert of 50 records
	// checkpoint: SHARD_END
}
