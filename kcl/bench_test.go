package kcl_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

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
// runner, the Checkpointer and the status. Its sub-benchmarks are the same
// without metrics (kclgo's default, the baseline), with the API's no-op
// provider, and with the SDK's (a ManualReader): with 4 records a batch,
// the metrics' per-batch cost is at its largest per record.
func BenchmarkServeActions(b *testing.B) {
	b.Run("metrics=none", func(b *testing.B) { benchServeActions(b) })
	b.Run("metrics=noop", func(b *testing.B) { benchServeActions(b, kcl.WithMeterProvider(noop.NewMeterProvider())) })
	b.Run("metrics=sdk", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() { _ = mp.Shutdown(context.Background()) }()
		benchServeActions(b, kcl.WithMeterProvider(mp))
	})
}

func benchServeActions(b *testing.B, opts ...kcl.Option) {
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
		if err := kcl.Serve(context.Background(), benchProc{}, bytes.NewReader(in), io.Discard, append(opts, kcl.WithLogger(zerolog.Nop()))...); err != nil {
			b.Fatal(err)
		}
	}
}
