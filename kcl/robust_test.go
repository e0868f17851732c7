package kcl_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

func recordJSON(data, seq string) string {
	return `{"data":"` + base64.StdEncoding.EncodeToString([]byte(data)) + `","partitionKey":"pk","sequenceNumber":"` + seq + `","approximateArrivalTimestamp":1,"subSequenceNumber":0,"action":"record"}`
}

// The daemon's write of a batch reaches the pipe in two pieces, split right
// after the last record: the processor still sees each record's own data.
func TestBatchSplitInTheTail(t *testing.T) {
	toChildR, toChildW := io.Pipe()
	fromChildR, fromChildW := io.Pipe()
	var got []string
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		got = got[:0]
		for _, r := range in.Records {
			got = append(got, string(r.Data))
		}
		return nil
	}}
	done := make(chan error, 1)
	go func() {
		done <- kcl.Serve(context.Background(), p, toChildR, fromChildW, kcl.WithLogger(zerolog.Nop()))
	}()
	replies := bufio.NewScanner(fromChildR)
	io.WriteString(toChildW, `{"action":"initialize","shardId":"s","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`+"\n")
	require.True(t, replies.Scan())
	io.WriteString(toChildW, `{"action":"processRecords","records":[`+recordJSON("abc", "1")+`],"millisBehindLatest":0}`+"\n")
	require.True(t, replies.Scan())
	var recs, want []string
	for i := range 3 {
		want = append(want, fmt.Sprintf("record-%d-payload", i))
		recs = append(recs, recordJSON(want[i], fmt.Sprint(10+i)))
	}
	io.WriteString(toChildW, `{"action":"processRecords","records":[`+strings.Join(recs, ","))
	io.WriteString(toChildW, `],"millisBehindLatest":0}`+"\n")
	require.True(t, replies.Scan())
	assert.Equal(t, want, got)
	toChildW.Close()
	require.NoError(t, <-done)
}

// A checkpoint started on another goroutine and still in flight when
// ProcessRecords returns: the status waits for its reply.
func TestCheckpointInFlightWhenProcessorReturns(t *testing.T) {
	started := make(chan struct{})
	var cerr error
	finished := make(chan struct{})
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		go func() {
			defer close(finished)
			close(started)
			cerr = in.Checkpointer.Checkpoint(context.Background())
		}()
		<-started
		time.Sleep(time.Millisecond)
		return nil
	}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0))}
	res, _ := run(t, d, p)
	<-finished
	require.NoError(t, res.ChildErr)
	require.NoError(t, res.DaemonErr)
	if cerr == nil {
		assert.Equal(t, []string{"> processRecords 2", "< checkpoint null", "> checkpoint ok", "< status processRecords"}, res.Transcript.Summary()[2:6])
	} else {
		// The goroutine came too late: refused locally, nothing sent.
		assert.ErrorIs(t, cerr, kcl.ErrCheckpointNotAllowed)
		assert.Equal(t, []string{"> processRecords 2", "< status processRecords"}, res.Transcript.Summary()[2:4])
	}
}

// A daemon that answers a checkpoint with something else: the checkpoint
// fails with ErrProtocol, the processor's context is cancelled, and the
// batch is not acknowledged.
func TestCheckpointAnsweredWithAnotherAction(t *testing.T) {
	var cerr, ctxErr error
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		cerr = in.Checkpointer.Checkpoint(ctx)
		ctxErr = ctx.Err()
		return nil
	}}
	in := `{"action":"initialize","shardId":"s"}` + "\n" +
		`{"action":"processRecords","records":[` + recordJSON("a", "1") + `],"millisBehindLatest":0}` + "\n" +
		`{"action":"processRecords","records":[` + recordJSON("b", "2") + `],"millisBehindLatest":0}` + "\n"
	out, _, err := serveRaw(t, p, in)
	assert.ErrorIs(t, err, kcl.ErrProtocol)
	assert.ErrorIs(t, cerr, kcl.ErrProtocol)
	assert.ErrorContains(t, cerr, `expected the daemon's checkpoint reply, got "processRecords"`)
	assert.ErrorIs(t, ctxErr, context.Canceled)
	assert.NotContains(t, out, `"responseFor":"processRecords"`)
}

// The same for PerRecord: it stops handling records at once.
func TestPerRecordStopsOnProtocolFailure(t *testing.T) {
	var handled []string
	p := &kcl.PerRecord{Handle: func(_ context.Context, r kcl.Record) (bool, error) {
		handled = append(handled, string(r.Data))
		return true, nil
	}}
	in := `{"action":"initialize","shardId":"s"}` + "\n" +
		`{"action":"processRecords","records":[` + recordJSON("a", "1") + `,` + recordJSON("b", "2") + `],"millisBehindLatest":0}` + "\n" +
		`{"action":"leaseLost"}` + "\n"
	_, _, err := serveRaw(t, p, in)
	assert.ErrorIs(t, err, kcl.ErrProtocol)
	assert.Equal(t, []string{"a"}, handled)
}
