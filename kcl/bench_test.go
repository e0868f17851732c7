package kcl_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// benchProc checkpoints every batch and does nothing else: what is left is
// the cost of an action's path through Serve.
type benchProc struct{}

func (benchProc) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (benchProc) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	return in.Checkpointer.Checkpoint(ctx)
}
func (benchProc) LeaseLost(context.Context, kcl.LeaseLostInput) error                 { return nil }
func (benchProc) ShardEnded(context.Context, kcl.ShardEndedInput) error               { return nil }
func (benchProc) ShutdownRequested(context.Context, kcl.ShutdownRequestedInput) error { return nil }

// BenchmarkServeActions serves 1,000 small batches, each with one checkpoint
// round trip, from memory: the per-action cost of decoding, the action
// runner, the Checkpointer and the status.
func BenchmarkServeActions(b *testing.B) {
	var in []byte
	in = protocol.AppendMessage(in, kcltest.Initialize("s"))
	in = append(in, '\n')
	const batches = 1000
	for i := 0; i < batches; i++ {
		in = protocol.AppendMessage(in, kcltest.Batch(kcltest.Records(i*4, 4, 16)...))
		in = append(in, '\n')
		in = append(in, `{"action":"checkpoint","checkpoint":null,"error":null}`+"\n"...)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := kcl.Serve(context.Background(), benchProc{}, bytes.NewReader(in), io.Discard, kcl.WithLogger(zerolog.Nop())); err != nil {
			b.Fatal(err)
		}
	}
}
