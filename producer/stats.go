package producer

import (
	"errors"
	"sync/atomic"

	"github.com/kclgo/kclgo/internal/telemetry"
)

type stats struct {
	recordsPut, bytesPut                               atomic.Int64
	recordsDelivered, bytesDelivered, entriesDelivered atomic.Int64
	requests, retries, failures, misrouted, refreshes  atomic.Int64
}

// Stats are a Producer's counters since New.
type Stats struct {
	// RecordsPut and BytesPut count user records accepted by Put, and
	// their data plus partition key bytes.
	RecordsPut, BytesPut int64
	// RecordsDelivered and BytesDelivered count user records Kinesis
	// accepted; KinesisRecords the PutRecords entries (aggregates or plain
	// records) that carried them.
	RecordsDelivered, BytesDelivered, KinesisRecords int64
	// Requests counts PutRecords calls.
	Requests int64
	// Retries counts user records sent again after a failed entry or call.
	Retries int64
	// Failures counts user records reported failed.
	Failures int64
	// Misrouted counts user records re-sent because their aggregate landed
	// on a shard that does not hold all of them.
	Misrouted int64
	// ShardMapRefreshes counts shard maps re-read after New.
	ShardMapRefreshes int64
	// BufferedRecords and BufferedBytes are what is Put and not yet
	// delivered or failed, now.
	BufferedRecords, BufferedBytes int64
}

// Stats returns the counters. It is safe to call at any time, also after
// Close.
func (p *Producer) Stats() Stats {
	recs, bytes := p.buf.usage()
	return Stats{
		RecordsPut:        p.stats.recordsPut.Load(),
		BytesPut:          p.stats.bytesPut.Load(),
		RecordsDelivered:  p.stats.recordsDelivered.Load(),
		BytesDelivered:    p.stats.bytesDelivered.Load(),
		KinesisRecords:    p.stats.entriesDelivered.Load(),
		Requests:          p.stats.requests.Load(),
		Retries:           p.stats.retries.Load(),
		Failures:          p.stats.failures.Load(),
		Misrouted:         p.stats.misrouted.Load(),
		ShardMapRefreshes: p.stats.refreshes.Load(),
		BufferedRecords:   recs,
		BufferedBytes:     bytes,
	}
}

// telemetryStats is what the producer's observed instruments read at each
// collection: Put pays nothing for them.
func (p *Producer) telemetryStats() telemetry.ProducerStats {
	s := p.Stats()
	return telemetry.ProducerStats{RecordsPut: s.RecordsPut, RecordsDelivered: s.RecordsDelivered, KinesisRecords: s.KinesisRecords,
		BufferedRecords: s.BufferedRecords, BufferedBytes: s.BufferedBytes}
}

// metricCode is the error.type of a failed or retried record: an entry's
// ErrorCode, "expired" or "closed", or the call's AWS error code.
func metricCode(err error) string {
	var ee *EntryError
	switch {
	case errors.Is(err, ErrClosed):
		return telemetry.ErrorClosed
	case errors.Is(err, ErrExpired):
		return telemetry.ErrorExpired
	case errors.As(err, &ee):
		return ee.Code
	}
	return telemetry.ErrorCode(err)
}
