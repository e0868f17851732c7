package kcl_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/checkpointer"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

func seq(i int) string { return kcltest.SequenceNumber(i) }

func TestPerRecordEveryN(t *testing.T) {
	var handled []string
	p := &kcl.PerRecord{
		Handle: func(_ context.Context, r kcl.Record) (bool, error) {
			handled = append(handled, r.PartitionKey)
			return false, nil
		},
		Policy: checkpointer.EveryRecords(2),
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.ShardEnded{}, kcltest.Records(0, 5, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Len(t, handled, 5)
	assert.Equal(t, []string{
		"> processRecords 5",
		"< checkpoint " + seq(1) + "/0", "> checkpoint ok",
		"< checkpoint " + seq(3) + "/0", "> checkpoint ok",
		"< status processRecords",
		"> shardEnded", "< checkpoint null", "> checkpoint ok", "< status shardEnded",
	}, res.Transcript.Summary()[2:])
	assert.Equal(t, "SHARD_END", res.Checkpoint)
}

func TestPerRecordForcedCheckpoint(t *testing.T) {
	p := &kcl.PerRecord{
		Handle: func(_ context.Context, r kcl.Record) (bool, error) { return r.PartitionKey == "pk-1", nil },
		Policy: checkpointer.Manual(),
	}
	d := &kcltest.Daemon{Script: []protocol.Message{kcltest.Initialize(shard), kcltest.Batch(kcltest.Records(0, 3, 0)...), protocol.ShutdownRequested{}, protocol.LeaseLost{}}}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{
		"> processRecords 3", "< checkpoint " + seq(1) + "/0", "> checkpoint ok", "< status processRecords",
		"> shutdownRequested", "< checkpoint " + seq(2) + "/0", "> checkpoint ok", "< status shutdownRequested",
		"> leaseLost", "< status leaseLost",
	}, res.Transcript.Summary()[2:])
}

func TestPerRecordDefaultCheckpointsEachBatch(t *testing.T) {
	p := &kcl.PerRecord{Handle: func(context.Context, kcl.Record) (bool, error) { return false, nil }}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 0), kcltest.Records(3, 1, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, seq(3)+"/0", res.Checkpoint)
}

func TestPerRecordInterval(t *testing.T) {
	now := time.Unix(1e9, 0)
	pol := checkpointer.EveryInterval(time.Minute)
	pol.Now = func() time.Time { return now }
	p := &kcl.PerRecord{
		Handle: func(context.Context, kcl.Record) (bool, error) { now = now.Add(25 * time.Second); return false, nil },
		Policy: pol,
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 6, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	// First record at 25 s starts the clock; 60 s later is record 4 (at 100 s).
	assert.Equal(t, []string{"< checkpoint " + seq(3) + "/0", "> checkpoint ok", "< status processRecords"}, res.Transcript.Summary()[3:6])
}

// A failing record: the finished ones are checkpointed, the batch is not
// acknowledged, and the retry starts at the failed record.
func TestPerRecordFailureNeverCheckpointsAhead(t *testing.T) {
	var handled []string
	failOnce := true
	p := &kcl.PerRecord{
		Handle: func(_ context.Context, r kcl.Record) (bool, error) {
			if r.PartitionKey == "pk-2" && failOnce {
				failOnce = false
				return false, errors.New("downstream timeout")
			}
			handled = append(handled, r.PartitionKey)
			return false, nil
		},
		Policy: checkpointer.Manual(),
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 4, 0))}
	res, logs := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"pk-0", "pk-1", "pk-2", "pk-3"}, handled, "the retry skips finished records")
	assert.Equal(t, []string{
		"> processRecords 4", "< checkpoint " + seq(1) + "/0", "> checkpoint ok", "< status processRecords",
	}, res.Transcript.Summary()[2:6], "checkpoint at the last finished record, never at the failed one")
	assert.Contains(t, logs, "downstream timeout")
}

func TestPerRecordPoisonRecordFailsForGood(t *testing.T) {
	p := &kcl.PerRecord{
		Handle: func(_ context.Context, r kcl.Record) (bool, error) {
			if r.PartitionKey == "pk-1" {
				return false, errors.New("poison")
			}
			return false, nil
		},
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 0))}
	res, _ := run(t, d, p)
	assert.ErrorIs(t, res.ChildErr, kcl.ErrProcessorFailed)
	assert.Equal(t, seq(0)+"/0", res.Checkpoint, "only the record before the poison one")
	assert.NotContains(t, res.Transcript.Summary(), "< status processRecords")
}

func TestPerRecordDeadLetter(t *testing.T) {
	var dead []string
	p := &kcl.PerRecord{
		Handle: func(_ context.Context, r kcl.Record) (bool, error) {
			if r.PartitionKey == "pk-1" {
				return false, errors.New("poison")
			}
			return false, nil
		},
		OnError: func(_ context.Context, r kcl.Record, err error) error {
			dead = append(dead, r.PartitionKey+": "+err.Error())
			return nil
		},
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"pk-1: poison"}, dead)
	assert.Equal(t, seq(2)+"/0", res.Checkpoint)
}

func TestPerRecordCheckpointFailureGoesOn(t *testing.T) {
	n := 0
	p := &kcl.PerRecord{
		Handle: func(context.Context, kcl.Record) (bool, error) { n++; return true, nil },
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 0)), CheckpointErrors: []string{"NullPointerException"}}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, 3, n)
	assert.Equal(t, seq(2)+"/0", res.Checkpoint)
}

// After ShutdownException (the lease moved on) PerRecord stops asking for
// the rest of the batch instead of a round trip per record.
func TestPerRecordStopsCheckpointingWhenLeaseGone(t *testing.T) {
	n := 0
	p := &kcl.PerRecord{
		Handle: func(context.Context, kcl.Record) (bool, error) { n++; return true, nil },
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 0)), CheckpointErrors: []string{"ShutdownException"}}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, 3, n)
	assert.Equal(t, []string{
		"> processRecords 3", "< checkpoint " + seq(0) + "/0", "> checkpoint ShutdownException", "< status processRecords",
	}, res.Transcript.Summary()[2:6])
}

// A throttled checkpoint resets the policy: the next one is due after
// another N records, not at every record.
func TestPerRecordThrottledPolicyResets(t *testing.T) {
	p := &kcl.PerRecord{
		Handle: func(context.Context, kcl.Record) (bool, error) { return false, nil },
		Policy: checkpointer.EveryRecords(2),
	}
	errs := make([]string, 30)
	for i := range errs {
		errs[i] = "ThrottlingException"
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 6, 0)), CheckpointErrors: errs}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	requests := 0
	for _, l := range res.Transcript.Summary() {
		if strings.HasPrefix(l, "< checkpoint") {
			requests++
		}
	}
	assert.Equal(t, 3*4, requests, "3 due checkpoints of 4 attempts each (the test's retry policy)")
}
