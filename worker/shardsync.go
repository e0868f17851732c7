package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kclgo/kclgo/protocol"
)

// shardInfo is what shard sync needs of a shard.
type shardInfo struct {
	id       string
	parents  []string // parent and adjacent parent, when set
	closed   bool     // has an ending sequence number
	startKey string   // hash key range, decimal
	endKey   string
}

// listShards lists every shard of the stream, following NextToken.
func listShards(ctx context.Context, k KinesisAPI, stream, streamARN string) ([]shardInfo, error) {
	var out []shardInfo
	in := &kinesis.ListShardsInput{}
	if streamARN != "" {
		in.StreamARN = aws.String(streamARN)
	} else {
		in.StreamName = aws.String(stream)
	}
	for {
		page, err := k.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("worker: ListShards of %s: %w", stream, err)
		}
		for _, s := range page.Shards {
			out = append(out, toShardInfo(s))
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return out, nil
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

func toShardInfo(s types.Shard) shardInfo {
	si := shardInfo{id: aws.ToString(s.ShardId)}
	if p := aws.ToString(s.ParentShardId); p != "" {
		si.parents = append(si.parents, p)
	}
	if p := aws.ToString(s.AdjacentParentShardId); p != "" {
		si.parents = append(si.parents, p)
	}
	if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
		si.closed = true
	}
	if s.HashKeyRange != nil {
		si.startKey = aws.ToString(s.HashKeyRange.StartingHashKey)
		si.endKey = aws.ToString(s.HashKeyRange.EndingHashKey)
	}
	return si
}

// planNewLeases decides which leases shard sync creates, in the spirit of
// the Java KCL's HierarchicalShardSyncer: a shard gets a lease when it has
// none, no descendant of it has one (its data was processed), and none of
// its parents still needs processing (a parent without a lease that will get
// one, or a leased parent not at SHARD_END — a parent's children are created
// when it ends). A child of a leased (so processed) parent starts at
// TRIM_HORIZON; any other shard at the initial position. With LATEST, closed
// shards without a lease are skipped (there is nothing after their latest
// record).
func planNewLeases(shards []shardInfo, leases []Lease, initial string) []Lease {
	byID := map[string]shardInfo{}
	for _, s := range shards {
		byID[s.id] = s
	}
	leased := map[string]Lease{}
	for _, l := range leases {
		leased[l.Key] = l
	}
	children := map[string][]string{}
	for _, s := range shards {
		for _, p := range s.parents {
			children[p] = append(children[p], s.id)
		}
	}
	descLeased := map[string]bool{}
	var hasLeasedDescendant func(id string, depth int) bool
	hasLeasedDescendant = func(id string, depth int) bool {
		if v, ok := descLeased[id]; ok || depth > 64 {
			return v
		}
		v := false
		for _, c := range children[id] {
			if _, ok := leased[c]; ok || hasLeasedDescendant(c, depth+1) {
				v = true
				break
			}
		}
		descLeased[id] = v
		return v
	}
	candidate := func(s shardInfo) bool {
		if _, ok := leased[s.id]; ok {
			return false
		}
		if hasLeasedDescendant(s.id, 0) {
			return false
		}
		if initial == protocol.SentinelLatest && s.closed {
			return false
		}
		return true
	}
	var out []Lease
	for _, s := range shards {
		if !candidate(s) {
			continue
		}
		ready, fromParent := true, false
		for _, p := range s.parents {
			ps, ok := byID[p]
			if !ok {
				if pl, ok := leased[p]; ok && pl.Checkpoint != protocol.SentinelShardEnd {
					ready = false // a parent trimmed from the stream but not finished
				}
				continue
			}
			if pl, ok := leased[p]; ok {
				fromParent = true
				if pl.Checkpoint != protocol.SentinelShardEnd {
					ready = false
				}
			} else if candidate(ps) {
				ready = false // the parent gets its lease first
			}
		}
		if !ready {
			continue
		}
		l := Lease{Key: s.id, Checkpoint: initial, Parents: s.parents, StartingHashKey: s.startKey, EndingHashKey: s.endKey}
		if fromParent {
			l.Checkpoint = protocol.SentinelTrimHorizon
		}
		out = append(out, l)
	}
	return out
}

// syncShards lists the shards and creates the leases planNewLeases asks
// for. A lease another worker created first is fine.
func (w *worker) syncShards(ctx context.Context) error {
	shards, err := listShards(ctx, w.cfg.Kinesis, w.cfg.StreamName, w.cfg.StreamARN)
	if err != nil {
		return err
	}
	leases, err := w.table.list(ctx)
	if err != nil {
		return err
	}
	for _, l := range planNewLeases(shards, leases, w.cfg.InitialPosition) {
		created, err := w.table.create(ctx, l)
		if err != nil {
			return err
		}
		if created {
			w.log.Info().Str("shard", l.Key).Str("checkpoint", l.Checkpoint).Strs("parents", l.Parents).Msg("created lease")
		}
	}
	w.lastSync = time.Now()
	return nil
}
