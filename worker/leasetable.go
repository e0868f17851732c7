package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// The lease table's attribute names, as the Java KCL's
// DynamoDBLeaseSerializer writes them. The row layout is the Java KCL's; see
// the package documentation.
const (
	attrLeaseKey        = "leaseKey"
	attrLeaseOwner      = "leaseOwner"
	attrLeaseCounter    = "leaseCounter"
	attrOwnerSwitches   = "ownerSwitchesSinceCheckpoint"
	attrCheckpoint      = "checkpoint"
	attrCheckpointSub   = "checkpointSubSequenceNumber"
	attrPending         = "pendingCheckpoint"
	attrPendingSub      = "pendingCheckpointSubSequenceNumber"
	attrPendingState    = "pendingCheckpointState"
	attrParentShardID   = "parentShardId"
	attrChildShardIDs   = "childShardIds"
	attrStartingHashKey = "startingHashKey"
	attrEndingHashKey   = "endingHashKey"
	attrCheckpointOwner = "checkpointOwner"
	attrEntityType      = "entityType"
	entityTypeLease     = "LEASE"
)

// DynamoDBAPI is the part of the DynamoDB client the worker uses; the SDK's
// *dynamodb.Client implements it.
type DynamoDBAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Lease is one row of the lease table, as this package reads it.
type Lease struct {
	// Key is the lease key: the shard id.
	Key string
	// Owner is the worker id of the holder; "" when the lease is free.
	Owner string
	// Counter is the lease counter, the fencing token every write checks.
	Counter int64
	// OwnerSwitches is ownerSwitchesSinceCheckpoint.
	OwnerSwitches int64
	// Checkpoint is the last checkpoint: a sequence number or a sentinel.
	Checkpoint string
	// CheckpointSub is the checkpoint's sub-sequence number.
	CheckpointSub int64
	// Parents are the parent shard ids (two for a merge).
	Parents []string
	// Children are the child shard ids, written at the shard's end.
	Children []string
	// StartingHashKey and EndingHashKey are the shard's hash key range in
	// decimal, "" when the row has none.
	StartingHashKey, EndingHashKey string
	// CheckpointOwner is set by a KCL 3.x leader during a graceful
	// hand-off: the lease is not started while it is set.
	CheckpointOwner string
}

// ErrLeaseTable matches the errors of the lease table that are not a lost
// condition: the table is missing, throttled, or unreachable.
var ErrLeaseTable = errors.New("worker: lease table")

// errConditionFailed is a conditional write that found another counter or
// owner: the lease is lost (or was never ours).
var errConditionFailed = errors.New("worker: lease changed by another worker")

// table is the lease table of one application.
type table struct {
	db   DynamoDBAPI
	name string
}

func (t *table) wrap(op, key string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return errConditionFailed
	}
	return fmt.Errorf("%w %s: %s %s: %w", ErrLeaseTable, t.name, op, key, err)
}

// isThrottle reports whether err is DynamoDB's or Kinesis's way of saying
// "slow down".
func isThrottle(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException":
			return true
		}
	}
	return false
}

// ensure creates the table with the Java KCL's key schema (hash key
// leaseKey, a string; on-demand billing) if it does not exist, and waits
// until it is ACTIVE.
func (t *table) ensure(ctx context.Context, wait time.Duration) error {
	_, err := t.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &t.name})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		_, err = t.db.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            &t.name,
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrLeaseKey), KeyType: types.KeyTypeHash}},
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrLeaseKey), AttributeType: types.ScalarAttributeTypeS}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return t.wrap("CreateTable", "", err)
		}
	} else if err != nil {
		return t.wrap("DescribeTable", "", err)
	}
	deadline := time.Now().Add(wait)
	for {
		out, err := t.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &t.name})
		if err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %s", out.Table.TableStatus)
			}
			return t.wrap("waiting for ACTIVE", "", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// list scans the whole table and returns its leases, sorted by key. Rows
// whose entityType is set and is not LEASE (KCL 3.5's worker metrics and
// coordinator state) are skipped.
func (t *table) list(ctx context.Context) ([]Lease, error) {
	var out []Lease
	var start map[string]types.AttributeValue
	for {
		page, err := t.db.Scan(ctx, &dynamodb.ScanInput{TableName: &t.name, ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, t.wrap("Scan", "", err)
		}
		for _, item := range page.Items {
			if l, ok := fromItem(item); ok {
				out = append(out, l)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// get reads one lease; ok is false when it does not exist.
func (t *table) get(ctx context.Context, key string) (Lease, bool, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.name, Key: keyOf(key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Lease{}, false, t.wrap("GetItem", key, err)
	}
	if len(out.Item) == 0 {
		return Lease{}, false, nil
	}
	l, ok := fromItem(out.Item)
	return l, ok, nil
}

// create writes a new lease if none with its key exists (the Java KCL's
// createLeaseIfNotExists); created is false when one existed.
func (t *table) create(ctx context.Context, l Lease) (created bool, err error) {
	_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &t.name,
		Item:      toItem(l),
		Expected:  map[string]types.ExpectedAttributeValue{attrLeaseKey: {Exists: aws.Bool(false)}},
	})
	if err != nil {
		err = t.wrap("PutItem", l.Key, err)
		if errors.Is(err, errConditionFailed) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// renew bumps the counter of a lease held with counter n (the Java KCL's
// renewLease). A failed condition is checked again by reading the row: a
// write that went through but whose answer was lost leaves owner and n+1.
func (t *table) renew(ctx context.Context, key, owner string, n int64) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &t.name,
		Key:              keyOf(key),
		Expected:         counterIs(n),
		AttributeUpdates: map[string]types.AttributeValueUpdate{attrLeaseCounter: put(num(n + 1))},
	})
	if err == nil {
		return nil
	}
	err = t.wrap("renew", key, err)
	if !errors.Is(err, errConditionFailed) {
		return err
	}
	l, ok, gerr := t.get(ctx, key)
	if gerr == nil && ok && l.Owner == owner && l.Counter == n+1 {
		return nil // the spurious failure of a retried write
	}
	return errConditionFailed
}

// take moves a lease seen with counter n and owner from to owner (the Java
// KCL's takeLease).
func (t *table) take(ctx context.Context, l Lease, owner string) error {
	upd := map[string]types.AttributeValueUpdate{
		attrLeaseCounter:    put(num(l.Counter + 1)),
		attrLeaseOwner:      put(str(owner)),
		attrCheckpointOwner: {Action: types.AttributeActionDelete},
	}
	if (l.Owner != "" && l.Owner != owner) || (l.CheckpointOwner != "" && l.CheckpointOwner == owner) {
		upd[attrOwnerSwitches] = types.AttributeValueUpdate{Action: types.AttributeActionAdd, Value: num(1)}
	}
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &t.name, Key: keyOf(l.Key), Expected: counterIs(l.Counter), AttributeUpdates: upd,
	})
	if err != nil {
		return t.wrap("take", l.Key, err)
	}
	return nil
}

// evict frees a lease held with counter n, so that any worker can take it
// at once (the Java KCL's evictLease).
func (t *table) evict(ctx context.Context, key string, n int64) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &t.name, Key: keyOf(key), Expected: counterIs(n),
		AttributeUpdates: map[string]types.AttributeValueUpdate{
			attrLeaseCounter:    put(num(n + 1)),
			attrLeaseOwner:      {Action: types.AttributeActionDelete},
			attrCheckpointOwner: {Action: types.AttributeActionDelete},
		},
	})
	if err != nil {
		return t.wrap("evict", key, err)
	}
	return nil
}

// checkpoint writes a checkpoint on a lease held with counter n (the Java
// KCL's updateLease): counter n+1, the position, no owner switches, no
// pending checkpoint. children, when given, are written too.
func (t *table) checkpoint(ctx context.Context, key string, n int64, seq string, sub int64, children []string) error {
	upd := map[string]types.AttributeValueUpdate{
		attrLeaseCounter:  put(num(n + 1)),
		attrCheckpoint:    put(str(seq)),
		attrCheckpointSub: put(num(sub)),
		attrOwnerSwitches: put(num(0)),
		attrPending:       {Action: types.AttributeActionDelete},
		attrPendingSub:    {Action: types.AttributeActionDelete},
		attrPendingState:  {Action: types.AttributeActionDelete},
	}
	if len(children) > 0 {
		upd[attrChildShardIDs] = put(&types.AttributeValueMemberSS{Value: children})
	}
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &t.name, Key: keyOf(key), Expected: counterIs(n), AttributeUpdates: upd,
	})
	if err != nil {
		return t.wrap("checkpoint", key, err)
	}
	return nil
}

// remove deletes a lease held with counter n (the Java KCL's deleteLease,
// made conditional on the counter).
func (t *table) remove(ctx context.Context, key string, n int64) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &t.name, Key: keyOf(key), Expected: counterIs(n)})
	if err != nil {
		return t.wrap("delete", key, err)
	}
	return nil
}

// setChildren writes childShardIds on a lease that exists, whatever its
// counter (the Java KCL's updateLeaseWithMetaInfo for CHILD_SHARDS).
func (t *table) setChildren(ctx context.Context, key string, children []string) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &t.name, Key: keyOf(key),
		Expected:         map[string]types.ExpectedAttributeValue{attrLeaseKey: {Exists: aws.Bool(true), Value: str(key)}},
		AttributeUpdates: map[string]types.AttributeValueUpdate{attrChildShardIDs: put(&types.AttributeValueMemberSS{Value: children})},
	})
	if err != nil {
		err = t.wrap("set childShardIds", key, err)
		if errors.Is(err, errConditionFailed) {
			return nil // the lease is gone: nothing to annotate
		}
		return err
	}
	return nil
}

func keyOf(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrLeaseKey: str(key)}
}

func counterIs(n int64) map[string]types.ExpectedAttributeValue {
	return map[string]types.ExpectedAttributeValue{attrLeaseCounter: {Value: num(n)}}
}

func put(v types.AttributeValue) types.AttributeValueUpdate {
	return types.AttributeValueUpdate{Action: types.AttributeActionPut, Value: v}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// toItem is the row the Java KCL 2.x writes for a new lease
// (DynamoDBLeaseSerializer.toDynamoRecord; 2.x writes no entityType).
func toItem(l Lease) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrLeaseKey:      str(l.Key),
		attrLeaseCounter:  num(l.Counter),
		attrOwnerSwitches: num(l.OwnerSwitches),
		attrCheckpoint:    str(l.Checkpoint),
		attrCheckpointSub: num(l.CheckpointSub),
	}
	if l.Owner != "" {
		item[attrLeaseOwner] = str(l.Owner)
	}
	if len(l.Parents) > 0 {
		item[attrParentShardID] = &types.AttributeValueMemberSS{Value: l.Parents}
	}
	if len(l.Children) > 0 {
		item[attrChildShardIDs] = &types.AttributeValueMemberSS{Value: l.Children}
	}
	if l.StartingHashKey != "" && l.EndingHashKey != "" {
		item[attrStartingHashKey] = str(l.StartingHashKey)
		item[attrEndingHashKey] = str(l.EndingHashKey)
	}
	return item
}

// fromItem reads a row; ok is false for a row that is not a lease.
func fromItem(item map[string]types.AttributeValue) (Lease, bool) {
	if et := getS(item, attrEntityType); et != "" && et != entityTypeLease {
		return Lease{}, false
	}
	key := getS(item, attrLeaseKey)
	if key == "" {
		return Lease{}, false
	}
	return Lease{
		Key:             key,
		Owner:           getS(item, attrLeaseOwner),
		Counter:         getN(item, attrLeaseCounter),
		OwnerSwitches:   getN(item, attrOwnerSwitches),
		Checkpoint:      getS(item, attrCheckpoint),
		CheckpointSub:   getN(item, attrCheckpointSub),
		Parents:         getSS(item, attrParentShardID),
		Children:        getSS(item, attrChildShardIDs),
		StartingHashKey: getS(item, attrStartingHashKey),
		EndingHashKey:   getS(item, attrEndingHashKey),
		CheckpointOwner: getS(item, attrCheckpointOwner),
	}, true
}

func getS(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, k string) int64 {
	if v, ok := item[k].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func getSS(item map[string]types.AttributeValue, k string) []string {
	if v, ok := item[k].(*types.AttributeValueMemberSS); ok {
		return v.Value
	}
	return nil
}
