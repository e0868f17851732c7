package kcltest_test

import (
	"context"
	"os/exec"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// positions checkpoints at each given record index (-1: no position) and
// records the errors.
type positions struct {
	kcl.PerRecord
	at   []int
	errs []error
}

func (p *positions) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	for _, i := range p.at {
		var err error
		if i < 0 {
			err = in.Checkpointer.Checkpoint(ctx)
		} else {
			err = in.Checkpointer.CheckpointAt(ctx, kcltest.SequenceNumber(i), 0)
		}
		p.errs = append(p.errs, err)
	}
	return nil
}

func TestCheckpointRules(t *testing.T) {
	p := &positions{at: []int{3, 1, 2, 9, -1}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("s", protocol.LeaseLost{}, kcltest.Records(0, 5, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	require.NoError(t, res.ChildErr)
	require.Len(t, p.errs, 5)
	assert.NoError(t, p.errs[0])
	assert.ErrorIs(t, p.errs[1], kcl.ErrIllegalArgument, "below the last checkpoint")
	assert.ErrorIs(t, p.errs[2], kcl.ErrIllegalArgument, "below the last checkpoint")
	assert.ErrorIs(t, p.errs[3], kcl.ErrIllegalArgument, "beyond the last record delivered")
	assert.NoError(t, p.errs[4])
	assert.Equal(t, kcltest.SequenceNumber(4)+"/0", res.Checkpoint)
}

func TestZombieCheckpointFails(t *testing.T) {
	var err error
	p := &zombie{err: &err}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("s", protocol.Shutdown{Reason: protocol.ReasonZombie}, kcltest.Records(0, 1, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	require.NoError(t, res.ChildErr)
	assert.ErrorIs(t, err, kcl.ErrCheckpointNotAllowed, "the SDK refuses without asking the daemon")
}

type zombie struct {
	kcl.PerRecord
	saved kcl.Checkpointer
	err   *error
}

func (z *zombie) ProcessRecords(_ context.Context, in kcl.ProcessRecordsInput) error {
	z.saved = in.Checkpointer
	return nil
}

func (z *zombie) LeaseLost(ctx context.Context, _ kcl.LeaseLostInput) error {
	*z.err = z.saved.Checkpoint(ctx)
	return nil
}

// A child that writes junk, a status with an extra key, and a wrong status:
// the fake daemon skips the first two, as the real one does, and stops at
// the third.
func TestSkipsWhatTheDaemonSkips(t *testing.T) {
	script := `read l; echo 'hello'; echo '{"action":"status","responseFor":"initialize","extra":1}'; echo '{"action":"status","responseFor":"initialize"}'; read l; echo '{"action":"status","responseFor":"leaseLost"}'; cat >/dev/null`
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("s", protocol.LeaseLost{}, kcltest.Records(0, 1, 0))}
	res := d.RunCommand(context.Background(), exec.Command("sh", "-c", script))
	assert.Equal(t, []string{
		"> initialize",
		"< (skipped) hello",
		`< (skipped) {"action":"status","responseFor":"initialize","extra":1}`,
		"< status initialize",
		"> processRecords 1",
		"< status leaseLost",
	}, res.Transcript.Summary())
	assert.ErrorContains(t, res.DaemonErr, `answered "leaseLost" while "processRecords" was outstanding`)
}

func TestChildExitsEarly(t *testing.T) {
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("s", protocol.LeaseLost{})}
	res := d.RunCommand(context.Background(), exec.Command("true"))
	assert.Error(t, res.DaemonErr)
}
