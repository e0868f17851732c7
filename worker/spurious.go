package worker

import "context"

// appliedAnyway reports whether a conditional write of this worker that
// failed its condition (counter n) had in fact been applied by an earlier
// attempt of the same call: the AWS SDK retries a request whose answer it
// lost (aws-sdk-go-v2 #1825, #2737: "use of closed network connection"
// while reading the response, seen here with moto several times an hour),
// and the retry then finds the counter the first attempt bumped. The row is
// read back: this worker the owner, the counter n+1, and match for what
// the write set. The Java KCL's DynamoDBLeaseRefresher.renewLease recovers
// from a spurious renewal failure the same way.
func (w *worker) appliedAnyway(ctx context.Context, key string, n int64, match func(Lease) bool) bool {
	l, ok, err := w.table.get(ctx, key)
	if err != nil || !ok || l.Owner != w.cfg.WorkerID || l.Counter != n+1 || !match(l) {
		return false
	}
	w.log.Info().Str("shard", key).Int64("counter", l.Counter).Msg("a retried write found its own first attempt applied")
	return true
}
