package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// ProcessorFactory makes the processor of one shard. It is called once per
// lease this worker starts processing, with the shard id; the processor is
// used for that shard only, from one goroutine at a time.
type ProcessorFactory func(shardID string) kcl.RecordProcessor

// Run consumes the stream until ctx is cancelled: it takes its fair share
// of the application's leases, keeps them renewed, and runs one processor
// per held lease, each on its own goroutine. See the package documentation
// for the protocol it follows.
//
// When ctx is cancelled Run calls ShutdownRequested on every processor (its
// last chance to checkpoint, bounded by ShutdownTimeout), releases every
// lease so that other workers take them at once, and returns.
//
// Run returns an error wrapping [ErrConfig] for an invalid Config, or
// wrapping [ErrLeaseTable] when the lease table cannot be created or read at
// start, or a [*FanOutError] (matching [ErrFanOut]) when the enhanced
// fan-out consumer cannot be set up. Otherwise it returns after ctx is cancelled: nil, or, when
// processors failed for good during the run, every [*kcl.ActionError]
// joined (errors.Is(err, kcl.ErrProcessorFailed) holds). A processor that
// fails for good stops only its own shard: its lease is released
// unacknowledged, so the records after its last checkpoint are delivered
// again, and the other shards go on.
func Run(ctx context.Context, cfg Config, factory ProcessorFactory) error {
	if factory == nil {
		return fmt.Errorf("%w: nil ProcessorFactory", ErrConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	w := &worker{
		cfg:     cfg,
		factory: factory,
		table:   &table{db: cfg.DynamoDB, name: cfg.ApplicationName},
		log:     cfg.Logger.With().Str("worker", cfg.WorkerID).Str("stream", cfg.StreamName).Logger(),
		held:    map[string]*held{},
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		exited:  make(chan *held, 64),
		attrs: []attribute.KeyValue{telemetry.KeyStream.String(cfg.StreamName), telemetry.KeyApplication.String(cfg.ApplicationName),
			telemetry.KeyWorker.String(cfg.WorkerID)},
	}
	if w.tel, err = telemetry.NewWorker(cfg.MeterProvider, w.attrs...); err != nil {
		w.log.Warn().Err(err).Msg("the meter provider refused an instrument; metrics are incomplete")
	}
	if err := w.table.ensure(ctx, time.Minute); err != nil {
		return err
	}
	if err := w.syncShards(ctx); err != nil {
		var nf *ktypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return fmt.Errorf("%w: stream %q not found: %w", ErrConfig, cfg.StreamName, err)
		}
		w.log.Warn().Err(err).Msg("shard sync failed; retrying later")
	}
	if err := w.setupRetrieval(ctx); err != nil {
		return err
	}
	return w.loop(ctx)
}

// worker is one Run.
type worker struct {
	cfg      Config
	factory  ProcessorFactory
	table    *table
	log      zerolog.Logger
	obs      observer
	rng      *rand.Rand
	lastSync time.Time
	tel      *telemetry.Worker    // nil: no metrics
	attrs    []attribute.KeyValue // on every measurement: stream, application, worker id
	// consumerARN is the enhanced fan-out consumer; empty: poll.
	consumerARN string

	held   map[string]*held // by lease key; touched by the loop only
	exited chan *held       // consumers that returned
	wg     sync.WaitGroup

	errMu  sync.Mutex
	failed []error
}

// held is a lease this worker holds.
type held struct {
	key string
	log zerolog.Logger
	tel *telemetry.WorkerShard // nil: no metrics

	mu        sync.Mutex // serialises the writes that bump the counter
	lease     Lease      // as last written by this worker
	renewedAt time.Time  // when the last successful renewal was sent
	lost      bool
	lostCh    chan struct{} // closed when lost
	stopCh    chan struct{} // closed to ask for a graceful shutdown
	done      chan struct{} // closed when the consumer returned
	finished  bool          // the consumer checkpointed SHARD_END
	failed    bool          // the processor failed for good
	running   bool
}

// markLost records that the lease is gone; it must be called with h.mu
// held.
func (h *held) markLost(why string) {
	if h.lost {
		return
	}
	h.lost = true
	close(h.lostCh)
	h.log.Warn().Str("why", why).Msg("lease lost")
	h.tel.LeaseLost(context.Background())
}

// isLost reports whether the lease was lost.
func (h *held) isLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// loop is the worker's one control loop: it renews, takes, syncs shards,
// starts consumers, and on ctx's end shuts everything down.
func (w *worker) loop(ctx context.Context) error {
	renew := time.NewTicker(w.renewInterval())
	defer renew.Stop()
	take := time.NewTicker(w.cfg.FailoverTime / 2)
	defer take.Stop()
	sync := time.NewTicker(w.cfg.ShardSyncInterval)
	defer sync.Stop()
	cleanup := time.NewTicker(w.cfg.CompletedLeaseCleanupInterval)
	defer cleanup.Stop()

	w.takeLeases(ctx)
	w.recordHeld(ctx)
	for {
		select {
		case <-ctx.Done():
			return w.shutdown()
		case <-renew.C:
			w.renewAll(ctx)
		case <-take.C:
			w.takeLeases(ctx)
		case <-sync.C:
			if err := w.syncShards(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn().Err(err).Msg("shard sync failed; retrying later")
			}
		case <-cleanup.C:
			w.cleanupFinished(ctx)
		case h := <-w.exited:
			w.consumerExited(ctx, h)
		}
		w.recordHeld(ctx)
	}
}

// renewInterval is the Java KCL's failover/3 − ε.
func (w *worker) renewInterval() time.Duration {
	d := w.cfg.FailoverTime/3 - 25*time.Millisecond
	if d <= 0 {
		d = w.cfg.FailoverTime / 3
	}
	return d
}

// renewAll renews every held lease: conditional on the counter held. A
// lease whose last renewal is older than the failover time (the process was
// paused, or DynamoDB unreachable) is expired here too: other workers may
// already have taken it, so it is dropped without a write.
func (w *worker) renewAll(ctx context.Context) {
	for _, h := range w.held {
		w.renew(ctx, h)
	}
}

func (w *worker) renew(ctx context.Context, h *held) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return
	}
	now := time.Now()
	if now.Sub(h.renewedAt) > w.cfg.FailoverTime {
		h.markLost(fmt.Sprintf("not renewed for %s (more than the failover time)", now.Sub(h.renewedAt).Round(time.Millisecond)))
		return
	}
	err := w.table.renew(ctx, h.key, w.cfg.WorkerID, h.lease.Counter)
	if errors.Is(err, errConditionFailed) && w.appliedAnyway(ctx, h.key, h.lease.Counter, func(Lease) bool { return true }) {
		err = nil
	}
	switch {
	case err == nil:
		h.lease.Counter++
		h.renewedAt = now
	case errors.Is(err, errConditionFailed):
		h.markLost("renewal found another counter: another worker took the lease")
	default:
		if ctx.Err() == nil {
			h.log.Warn().Err(err).Msg("lease renewal failed; retrying")
			h.tel.RenewalFailed(ctx)
		}
	}
}

// takeLeases scans the table, takes the leases the plan asks for, and
// starts a consumer for each held lease that has none.
func (w *worker) takeLeases(ctx context.Context) {
	leases, err := w.table.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("cannot scan the lease table; retrying")
		}
		return
	}
	now := time.Now()
	w.obs.update(leases, now)
	// Leases this worker holds but the table says are another's, or gone,
	// are lost.
	for key, h := range w.held {
		ob, ok := w.obs.seen[key]
		h.mu.Lock()
		if !ok || ob.Owner != w.cfg.WorkerID || ob.Counter > h.lease.Counter {
			if !ok && h.finished {
				h.markLost("lease deleted after its shard ended")
			} else if !h.lost {
				h.markLost("the lease table names another owner or a newer counter")
			}
		}
		h.mu.Unlock()
	}
	mine := 0
	for key, h := range w.held {
		switch {
		case !h.isLost():
			mine++
		case !h.running:
			delete(w.held, key) // a finished lease taken by another worker
		}
	}
	plan := w.obs.plan(w.cfg.WorkerID, now, w.cfg.FailoverTime, w.cfg.MaxLeasesForWorker, w.cfg.MaxLeasesToStealAtOneTime, w.rng)
	for i, ob := range append(plan.take, plan.steal...) {
		if h, ok := w.held[ob.Key]; ok && !h.isLost() {
			continue
		}
		if _, ok := w.held[ob.Key]; ok {
			continue // the old consumer is still stopping
		}
		if mine >= w.cfg.MaxLeasesForWorker {
			break
		}
		sent := time.Now()
		if err := w.table.take(ctx, ob.Lease, w.cfg.WorkerID); err != nil {
			if !errors.Is(err, errConditionFailed) && ctx.Err() == nil {
				w.log.Warn().Err(err).Str("shard", ob.Key).Msg("cannot take lease")
			}
			continue
		}
		l := ob.Lease
		l.Counter++
		if l.Owner != "" && l.Owner != w.cfg.WorkerID {
			w.log.Info().Str("shard", l.Key).Str("from", l.Owner).Msg("took lease")
		} else {
			w.log.Info().Str("shard", l.Key).Msg("took lease")
		}
		l.Owner = w.cfg.WorkerID
		l.CheckpointOwner = ""
		w.hold(ctx, l, sent).tel.LeaseTaken(ctx, i >= len(plan.take))
		mine++
	}
}

// hold records a lease just taken and starts its consumer.
func (w *worker) hold(ctx context.Context, l Lease, renewedAt time.Time) *held {
	h := &held{
		key: l.Key, lease: l, renewedAt: renewedAt, tel: w.tel.Shard(l.Key),
		log:    w.log.With().Str("shard", l.Key).Logger(),
		lostCh: make(chan struct{}), stopCh: make(chan struct{}), done: make(chan struct{}),
		running: true,
	}
	w.held[l.Key] = h
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(h.done)
		w.consume(h)
		select {
		case w.exited <- h:
		case <-ctx.Done():
		}
	}()
	return h
}

// recordHeld records how many leases the worker holds (not lost).
func (w *worker) recordHeld(ctx context.Context) {
	if w.tel == nil {
		return
	}
	n := 0
	for _, h := range w.held {
		if !h.isLost() {
			n++
		}
	}
	w.tel.LeasesHeld(ctx, n)
}

// consumerExited cleans up after a consumer returned: a lost lease is
// forgotten, a failed one released, a finished one kept (renewed, as the
// Java KCL does, until its children are done).
func (w *worker) consumerExited(ctx context.Context, h *held) {
	h.running = false
	switch {
	case h.isLost():
		delete(w.held, h.key)
	case h.failed:
		w.release(ctx, h)
		delete(w.held, h.key)
	}
}

// cleanupFinished deletes the held leases of ended shards whose children
// have all started (their checkpoints moved past the start), as the Java
// KCL's LeaseCleanupManager does; a child that has not started keeps its
// parent's lease, which blocks nothing.
func (w *worker) cleanupFinished(ctx context.Context) {
	for key, h := range w.held {
		h.mu.Lock()
		finished, lost, n := h.finished, h.lost, h.lease.Counter
		h.mu.Unlock()
		if !finished || lost || h.running {
			continue
		}
		row, ok, err := w.table.get(ctx, key)
		if err != nil || !ok || len(row.Children) == 0 {
			continue
		}
		started := true
		for _, c := range row.Children {
			cl, ok, err := w.table.get(ctx, c)
			if err != nil || !ok || isSentinel(cl.Checkpoint) && cl.Checkpoint != protocol.SentinelShardEnd {
				started = false
				break
			}
		}
		if !started {
			continue
		}
		h.mu.Lock()
		err = w.table.remove(ctx, key, h.lease.Counter)
		if err == nil {
			h.markLostQuietly()
		}
		h.mu.Unlock()
		if err != nil {
			h.log.Warn().Err(err).Int64("counter", n).Msg("cannot delete the finished lease")
			continue
		}
		h.log.Info().Msg("deleted the finished lease: every child has started")
		delete(w.held, key)
	}
}

// release evicts a held lease (conditional on the counter held), so that any
// worker can take it at once.
func (w *worker) release(ctx context.Context, h *held) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return
	}
	if err := w.table.evict(ctx, h.key, h.lease.Counter); err != nil {
		h.log.Warn().Err(err).Msg("cannot release the lease; it expires instead")
	} else {
		h.log.Info().Msg("released lease")
	}
	h.markLostQuietly()
}

// markLostQuietly ends the lease's validity without a warning (it was given
// up on purpose); h.mu must be held.
func (h *held) markLostQuietly() {
	if !h.lost {
		h.lost = true
		close(h.lostCh)
	}
}

// shutdown asks every consumer for a graceful shutdown, keeps the leases
// renewed while they checkpoint, releases them and returns what failed.
func (w *worker) shutdown() error {
	w.log.Info().Int("leases", len(w.held)).Msg("shutting down")
	for _, h := range w.held {
		close(h.stopCh)
	}
	// The run's context is done: a fresh one for the last writes.
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.ShutdownTimeout+w.cfg.FailoverTime)
	defer cancel()
	allDone := make(chan struct{})
	go func() { w.wg.Wait(); close(allDone) }()
	renew := time.NewTicker(w.renewInterval())
	defer renew.Stop()
wait:
	for {
		select {
		case <-allDone:
			break wait
		case <-renew.C:
			w.renewAll(ctx)
		case <-ctx.Done():
			w.log.Error().Msg("processors did not finish their shutdown in time; leaving their leases to expire")
			break wait
		}
	}
	for _, h := range w.held {
		select {
		case <-h.done:
			w.release(ctx, h)
		default:
		}
	}
	w.recordHeld(ctx)
	w.log.Info().Msg("shut down")
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return errors.Join(w.failed...)
}

// reportFailure records a processor's failure for Run's result.
func (w *worker) reportFailure(err error) {
	w.errMu.Lock()
	w.failed = append(w.failed, err)
	w.errMu.Unlock()
}

// isSentinel reports whether a checkpoint is a sentinel rather than a
// sequence number.
func isSentinel(s string) bool {
	switch s {
	case protocol.SentinelTrimHorizon, protocol.SentinelLatest, protocol.SentinelAtTimestamp, protocol.SentinelShardEnd, "":
		return true
	}
	return false
}
