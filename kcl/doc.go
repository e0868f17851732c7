// Package kcl runs a Kinesis record processor as a child of Amazon's KCL
// MultiLangDaemon.
//
// The daemon (Amazon's Java Kinesis Client Library) owns leases, load
// balancing, resharding and checkpoint storage; it starts one child process
// per shard and talks to it over the child's stdin and stdout. A kclgo child
// implements [RecordProcessor] (or uses [PerRecord] for a handler called once
// per record, or [Concurrent] for one on many goroutines per shard) and calls
// [Run] from main:
//
//	func main() {
//		if err := kcl.Run(context.Background(), &myProcessor{}); err != nil {
//			os.Exit(1) // the error is already logged on stderr
//		}
//	}
//
// # Lifecycle
//
// The daemon calls Initialize once, then ProcessRecords for each batch, and
// ends the processor with exactly one of LeaseLost (another worker took the
// shard; no checkpoint possible) or ShardEnded (the shard was closed by a
// split or merge; the processor must checkpoint). ShutdownRequested may come
// before LeaseLost when the worker shuts down gracefully: it is the last
// chance to checkpoint. KCL 1.x daemons send "shutdown" instead; Run maps its
// TERMINATE reason to ShardEnded and ZOMBIE to LeaseLost, so one binary runs
// under KCL 1.x, 2.x and 3.x.
//
// # Nothing is lost
//
// Run answers an action only after the processor returned nil. When a method
// returns an error or panics, Run logs it (with the stack for a panic) and
// calls it again as the [RetryPolicy] set by [WithProcessorRetry] allows;
// when it still fails, Run sends no answer, checkpoints nothing more, and
// returns an error, so main exits non-zero. The daemon then exits too (it
// cannot run without its child), and the supervisor that restarts it (systemd,
// Kubernetes, ECS) resumes every shard from its last checkpoint: records are
// delivered at least once, never lost.
//
// # Checkpointing
//
// A checkpoint records in DynamoDB how far a shard was processed; after a
// restart or a lease move, processing resumes after it. A [Checkpointer] is
// handed to ProcessRecords, ShardEnded and ShutdownRequested and is valid only
// until that method returns. Checkpoint with no position checkpoints after
// the last record delivered, so call it only once every record delivered so
// far is finished; CheckpointAt names a position. Checkpoints never move
// backwards: the daemon rejects one below the last. At shard end Run
// checkpoints by itself if the processor did not, because the shard's
// children are never processed until the parent is checkpointed at its end.
//
// # Stdout and signals
//
// Stdout belongs to the protocol. Run keeps a private duplicate of file
// descriptor 1 for it and points descriptor 1 at stderr, so a stray
// fmt.Println in the processor or a library goes to stderr instead of
// corrupting the conversation. Run ignores SIGINT and SIGTERM while the daemon
// is shutting down gracefully: a Ctrl-C sent to the whole process group does
// not kill the child mid-batch; Run keeps serving until the daemon closes
// stdin, for at most the grace period of [WithShutdownGrace].
// When Run returns it gives descriptor 1 and the signals back; the
// goroutine reading stdin may stay behind (see Run).
//
// # Other runtimes
//
// [ActionRunner] is the step Run takes for every action, for runtimes that
// drive a RecordProcessor in-process instead of as the daemon's child: it
// calls the method with retries and panic recovery, hands it a Checkpointer
// on the runtime's [CheckpointTransport] that is valid only during the
// method, and at shard end checkpoints if the processor did not.
//
// # Logging
//
// Run logs with zerolog to stderr, one JSON object per line, each carrying
// the shard id. The level is set by [WithLogLevel] or the KCLGO_LOG_LEVEL
// environment variable (debug, info, warn, error). The logger is in the
// context passed to the processor: zerolog.Ctx(ctx).Info().Msg("...").
package kcl
