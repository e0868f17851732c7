// Package recordlog is the samples' account of what they processed, for the
// end-to-end tests and the demo: one tab-separated line per finished record
// and per successful checkpoint, appended to the file named by
// $KCLGO_RECORD_LOG. Several children (one per shard) append to the same
// file; each write is a whole number of lines with O_APPEND, so lines never
// interleave.
//
//	R <shardId> <partitionKey> <sequenceNumber> <subSequenceNumber> <data>
//	C <shardId> <sequenceNumber or empty> <subSequenceNumber or empty> <unixNano>
//	I <shardId> <sequenceNumber or sentinel> <subSequenceNumber> <unixNano>   (initialize: where the lease starts)
//	L <shardId>                      (the processor was told the lease was lost)
//
// The times (wall clock, nanoseconds) order the lines of several processes:
// the tests check that a lease always starts at or after every checkpoint
// logged before it started.
// <data> is the record's payload when it is at most 64 bytes of printable
// ASCII without tabs, else "-": the end-to-end tests check that every record
// arrived with its own payload.
package recordlog

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kclgo/kclgo/kcl"
)

// Env names the file to append to; unset means no log.
const Env = "KCLGO_RECORD_LOG"

// Log appends to the record log. The zero value (and a nil *Log) logs
// nothing. It is safe for concurrent use: a line buffered before Flush is
// in the file when Flush returns, whichever goroutine buffered it.
type Log struct {
	f   *os.File
	mu  sync.Mutex
	buf []byte
}

// Open opens the file named by $KCLGO_RECORD_LOG, or returns a Log that
// discards everything when it is unset.
func Open() (*Log, error) {
	path := os.Getenv(Env)
	if path == "" {
		return &Log{}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("recordlog: %w", err)
	}
	return &Log{f: f}, nil
}

// Record buffers a finished record's line; Flush writes it.
func (l *Log) Record(shard, partitionKey, seq string, sub int64, data []byte) {
	if l == nil || l.f == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, "R\t"+shard+"\t"+partitionKey+"\t"+seq+"\t"...)
	l.buf = strconv.AppendInt(l.buf, sub, 10)
	l.buf = append(l.buf, '\t')
	if printable(data) {
		l.buf = append(l.buf, data...)
	} else {
		l.buf = append(l.buf, '-')
	}
	l.buf = append(l.buf, '\n')
}

func printable(data []byte) bool {
	if len(data) == 0 || len(data) > 64 {
		return false
	}
	for _, c := range data {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// Checkpoint buffers a successful checkpoint's line; seq "" means
// "after the last record delivered".
func (l *Log) Checkpoint(shard, seq string, sub int64) {
	if l == nil || l.f == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, "C\t"+shard+"\t"+seq+"\t"...)
	if seq != "" {
		l.buf = strconv.AppendInt(l.buf, sub, 10)
	}
	l.buf = append(l.buf, '\t')
	l.buf = strconv.AppendInt(l.buf, time.Now().UnixNano(), 10)
	l.buf = append(l.buf, '\n')
}

// Initialize buffers the line of an Initialize call: the lease's checkpoint.
func (l *Log) Initialize(shard, seq string, sub int64) {
	if l == nil || l.f == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, "I\t"+shard+"\t"+seq+"\t"...)
	l.buf = strconv.AppendInt(l.buf, sub, 10)
	l.buf = append(l.buf, '\t')
	l.buf = strconv.AppendInt(l.buf, time.Now().UnixNano(), 10)
	l.buf = append(l.buf, '\n')
}

// LeaseLost buffers the line of a LeaseLost call.
func (l *Log) LeaseLost(shard string) {
	if l == nil || l.f == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, "L\t"+shard+"\n"...)
}

// Flush writes the buffered lines with one write call.
func (l *Log) Flush() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.f.Write(l.buf)
	l.buf = l.buf[:0]
	if err != nil {
		return fmt.Errorf("recordlog: %w", err)
	}
	return nil
}

// Processor wraps a samples' RecordProcessor to log what the record log
// holds besides records: an I line at Initialize, a C line per successful
// checkpoint (through the Checkpointers it passes on) and an L line at
// LeaseLost. Handlers log their R lines with [Processor.Shard].
type Processor struct {
	kcl.RecordProcessor
	Log   *Log
	shard string // set by Initialize, before any record
}

// Shard returns the shard's id, once Initialize was called.
func (p *Processor) Shard() string { return p.shard }

// Initialize implements the kcl interface of the same name.
func (p *Processor) Initialize(ctx context.Context, in kcl.InitializeInput) error {
	p.shard = in.ShardID
	p.Log.Initialize(in.ShardID, in.SequenceNumber, in.SubSequenceNumber)
	if err := p.Log.Flush(); err != nil {
		return err
	}
	return p.RecordProcessor.Initialize(ctx, in)
}

// ProcessRecords implements the kcl interface of the same name.
func (p *Processor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	in.Checkpointer = checkpointer{in.Checkpointer, p}
	return p.RecordProcessor.ProcessRecords(ctx, in)
}

// ShardEnded implements the kcl interface of the same name.
func (p *Processor) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	in.Checkpointer = checkpointer{in.Checkpointer, p}
	return p.RecordProcessor.ShardEnded(ctx, in)
}

// ShutdownRequested implements the kcl interface of the same name.
func (p *Processor) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	in.Checkpointer = checkpointer{in.Checkpointer, p}
	return p.RecordProcessor.ShutdownRequested(ctx, in)
}

// LeaseLost implements the kcl interface of the same name.
func (p *Processor) LeaseLost(ctx context.Context, in kcl.LeaseLostInput) error {
	p.Log.LeaseLost(p.shard)
	if err := p.Log.Flush(); err != nil {
		return err
	}
	return p.RecordProcessor.LeaseLost(ctx, in)
}

// checkpointer logs each successful checkpoint of p's shard.
type checkpointer struct {
	kcl.Checkpointer
	p *Processor
}

func (c checkpointer) CheckpointAt(ctx context.Context, seq string, sub int64) error {
	if err := c.Checkpointer.CheckpointAt(ctx, seq, sub); err != nil {
		return err
	}
	c.p.Log.Checkpoint(c.p.shard, seq, sub)
	return c.p.Log.Flush()
}

func (c checkpointer) Checkpoint(ctx context.Context) error {
	if err := c.Checkpointer.Checkpoint(ctx); err != nil {
		return err
	}
	c.p.Log.Checkpoint(c.p.shard, "", 0)
	return c.p.Log.Flush()
}
