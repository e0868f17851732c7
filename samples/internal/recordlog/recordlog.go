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

// Checkpointer wraps a processor's Checkpointer to log each successful
// checkpoint of Shard.
type Checkpointer struct {
	kcl.Checkpointer
	Shard string
	Log   *Log
}

// CheckpointAt implements the kcl interface of the same name.
func (c Checkpointer) CheckpointAt(ctx context.Context, seq string, sub int64) error {
	if err := c.Checkpointer.CheckpointAt(ctx, seq, sub); err != nil {
		return err
	}
	c.Log.Checkpoint(c.Shard, seq, sub)
	return c.Log.Flush()
}

// Checkpoint implements the kcl interface of the same name.
func (c Checkpointer) Checkpoint(ctx context.Context) error {
	if err := c.Checkpointer.Checkpoint(ctx); err != nil {
		return err
	}
	c.Log.Checkpoint(c.Shard, "", 0)
	return c.Log.Flush()
}
