package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"
)

// retriedDynamo applies the first n checkpoint and renewal writes and then
// answers ConditionalCheckFailedException, as the SDK's retry of a write
// whose first answer was lost does.
type retriedDynamo struct {
	*fakeDynamo
	mu sync.Mutex
	n  int
}

func (d *retriedDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := d.fakeDynamo.UpdateItem(ctx, in, o...)
	_, counted := in.AttributeUpdates["leaseCounter"]
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && counted && in.AttributeUpdates["leaseOwner"] == (dtypes.AttributeValueUpdate{}) && d.n > 0 {
		d.n--
		return nil, &dtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	return out, err
}

// TestRetriedWriteAppliedAnyway: a checkpoint or renewal whose retry finds
// its own first attempt applied (owner this worker, counter one up, the
// checkpoint written) is a success, not a lost lease.
func TestRetriedWriteAppliedAnyway(t *testing.T) {
	k := &fakeKinesis{}
	d := &retriedDynamo{fakeDynamo: newFakeDynamo(), n: 2}
	k.add("shardId-0")
	var last string
	for j := range 20 {
		last = k.put("shardId-0", fmt.Sprint("pk-", j), []byte("x"))
	}
	cfg := testConfig(k, nil)
	cfg.DynamoDB = d
	var all []*recorder
	p := &processors{mk: func() *recorder { r := &recorder{}; all = append(all, r); return r }}
	stop := run(t, cfg, p.factory)
	eventually(t, "the checkpoint at the last record, and both spurious failures answered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return sval(d.fakeDynamo.row("app", "shardId-0")["checkpoint"]) == last && d.n == 0
	})
	require.NoError(t, stop())
	require.Len(t, all, 1, "one processor: the lease was never lost and taken again")
	require.False(t, all[0].has("leaseLost"), "no lease lost: %v", all[0].events)
	for _, err := range all[0].ckErr {
		require.NoError(t, err)
	}
}
