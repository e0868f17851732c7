package kcl

import "context"

// NopProcessor implements every [RecordProcessor] method by doing nothing
// and returning nil. Embed it in a processor that needs only some of the
// methods and write those:
//
//	type counter struct {
//		kcl.NopProcessor
//		n int
//	}
//
//	func (c *counter) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
//		c.n += len(in.Records)
//		return in.Checkpointer.Checkpoint(ctx)
//	}
//
// Its ShardEnded does not checkpoint; [Run] then checkpoints the end of the
// shard itself, as for any processor that returns nil without doing so. Its
// ShutdownRequested does not checkpoint either: the records finished since
// the last checkpoint are delivered again to the next owner of the lease.
type NopProcessor struct{}

// Initialize does nothing.
func (NopProcessor) Initialize(context.Context, InitializeInput) error { return nil }

// ProcessRecords does nothing and checkpoints nothing.
func (NopProcessor) ProcessRecords(context.Context, ProcessRecordsInput) error { return nil }

// LeaseLost does nothing.
func (NopProcessor) LeaseLost(context.Context, LeaseLostInput) error { return nil }

// ShardEnded does nothing; Run checkpoints the shard's end after it.
func (NopProcessor) ShardEnded(context.Context, ShardEndedInput) error { return nil }

// ShutdownRequested does nothing.
func (NopProcessor) ShutdownRequested(context.Context, ShutdownRequestedInput) error { return nil }

var _ RecordProcessor = NopProcessor{}
