package kcl_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// A slow handler on 64 goroutines per shard. ProcessRecords returns while
// records are handled; each checkpoint names the watermark, never a record
// with an unfinished predecessor. Here under kcltest's fake daemon; in main,
// kcl.Run(ctx, p).
func ExampleConcurrent() {
	var handled atomic.Int64
	p := &kcl.Concurrent{
		Workers: 64,
		Handle: func(ctx context.Context, r kcl.Record) error {
			time.Sleep(time.Millisecond) // an HTTP call, a database write
			handled.Add(1)
			return nil
		},
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{},
		kcltest.Records(0, 100, 0), kcltest.Records(100, 100, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	fmt.Println("handled:", handled.Load(), "checkpoint:", res.Checkpoint, "error:", res.ChildErr)
	// Output:
	// handled: 200 checkpoint: SHARD_END error: <nil>
}

// Finishing a record later, from another goroutine: the record counts as
// finished only when its Ack is done.
func ExampleAck() {
	acks := make(chan kcl.Ack, 10)
	go func() { // e.g. the callback of an asynchronous client
		for a := range acks {
			a.Done(nil)
		}
	}()
	p := &kcl.Concurrent{
		HandleAsync: func(ctx context.Context, r kcl.Record, ack kcl.Ack) error {
			acks <- ack
			return nil
		},
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{}, kcltest.Records(0, 5, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	close(acks)
	fmt.Println("checkpoint:", res.Checkpoint, "error:", res.ChildErr)
	// Output:
	// checkpoint: SHARD_END error: <nil>
}
