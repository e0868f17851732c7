package producer

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kclgo/kclgo/internal/kinesislimits"
)

// u128 is a 128-bit hash key.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// hashOf returns the hash key of a partition key: the MD5 of its bytes.
func hashOf(pk string) u128 {
	sum := md5.Sum([]byte(pk))
	return u128{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

// parseU128 parses a decimal hash key as Kinesis accepts it.
func parseU128(s string) (u128, bool) {
	hi, lo, ok := kinesislimits.ParseHashKey(s)
	return u128{hi, lo}, ok
}

// keyCache caches the hash keys of recent partition keys, as most workloads
// repeat a bounded set of them: a map lookup costs less than an MD5. It is
// emptied when it holds keyCacheSize keys, and when a filling had fewer hits
// than keys (keys that hardly repeat), it rests for keyCacheRest lookups.
type keyCache struct {
	m          map[string]u128
	hits, rest int
}

const (
	keyCacheSize = 1 << 14
	keyCacheRest = 16 * keyCacheSize
)

// hash returns the hash key of partition key pk.
func (c *keyCache) hash(pk string) u128 {
	if c.rest > 0 {
		c.rest--
		return hashOf(pk)
	}
	if h, ok := c.m[pk]; ok {
		c.hits++
		return h
	}
	h := hashOf(pk)
	if c.m == nil {
		c.m = make(map[string]u128)
	}
	if len(c.m) >= keyCacheSize {
		if c.hits < len(c.m) {
			c.rest = keyCacheRest
		}
		clear(c.m)
		c.hits = 0
	}
	c.m[pk] = h
	return h
}

// validate checks a record as PutRecords would, and returns its hash key
// when it has an explicit one (the partition key's is computed by route).
func validate(pk, ehk string, data []byte) (u128, error) {
	if !kinesislimits.PartitionKeyOK(pk) {
		return u128{}, fmt.Errorf("%w: partition key %q: %w", ErrInvalidRecord, pk, kinesislimits.CheckPartitionKey(pk))
	}
	if err := kinesislimits.CheckRecordSize(pk, len(data)); err != nil {
		return u128{}, fmt.Errorf("%w: partition key %q: %w", ErrInvalidRecord, pk, err)
	}
	if ehk == "" {
		return u128{}, nil
	}
	h, ok := parseU128(ehk)
	if !ok {
		return u128{}, fmt.Errorf("%w: partition key %q: %w", ErrInvalidRecord, pk, kinesislimits.CheckHashKey(ehk))
	}
	return h, nil
}

// hashRange is a shard's inclusive hash-key range.
type hashRange struct{ start, end u128 }

func (r hashRange) contains(h u128) bool { return !h.less(r.start) && !r.end.less(h) }

// shardMap is the stream's shards as ListShards returned them.
type shardMap struct {
	open []shardInfo          // open shards, sorted by start
	all  map[string]hashRange // every shard, open or closed, by id
}

type shardInfo struct {
	id  string
	rng hashRange
}

// find returns the index in open of the shard holding h. When no open shard
// holds it (a map read mid-reshard may have gaps), it returns the nearest
// one below; misrouting is detected after the put.
func (m *shardMap) find(h u128) int {
	i := sort.Search(len(m.open), func(i int) bool { return h.less(m.open[i].rng.start) })
	return max(i-1, 0)
}

// listShards reads the stream's shard map.
func (p *Producer) listShards(ctx context.Context) (*shardMap, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	m := &shardMap{all: map[string]hashRange{}}
	in := &kinesis.ListShardsInput{}
	if p.cfg.StreamARN != "" {
		in.StreamARN = aws.String(p.cfg.StreamARN)
	} else {
		in.StreamName = aws.String(p.cfg.StreamName)
	}
	for {
		out, err := p.client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("producer: ListShards: %w", err)
		}
		for _, s := range out.Shards {
			if s.HashKeyRange == nil || s.ShardId == nil {
				continue
			}
			start, ok1 := parseU128(aws.ToString(s.HashKeyRange.StartingHashKey))
			end, ok2 := parseU128(aws.ToString(s.HashKeyRange.EndingHashKey))
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("producer: ListShards: shard %s has an invalid hash key range", aws.ToString(s.ShardId))
			}
			rng := hashRange{start, end}
			m.all[*s.ShardId] = rng
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				m.open = append(m.open, shardInfo{*s.ShardId, rng})
			}
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	if len(m.open) == 0 {
		return nil, errors.New("producer: ListShards: the stream has no open shard")
	}
	sort.Slice(m.open, func(i, j int) bool { return m.open[i].rng.start.less(m.open[j].rng.start) })
	return m, nil
}

// refreshShards re-reads the shard map found outdated, at most once per
// ShardMapMinInterval, and not when another map was installed since.
func (p *Producer) refreshShards(outdated *shardMap) {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	p.mu.Lock()
	current := p.smap
	p.mu.Unlock()
	if current != outdated || time.Since(p.lastRefresh) < p.cfg.ShardMapMinInterval {
		return
	}
	p.lastRefresh = time.Now()
	m, err := p.listShards(p.sendCtx)
	if err != nil {
		return // keep the old map; the next misroute tries again
	}
	p.stats.refreshes.Add(1)
	p.mu.Lock()
	p.installMap(m)
	p.mu.Unlock()
}

// installMap switches to m, under p.mu. Shards that are gone give their
// waiting records back to routing.
func (p *Producer) installMap(m *shardMap) {
	old := p.shards
	p.smap = m
	p.shards = make(map[string]*shard, len(m.open))
	p.order = make([]*shard, len(m.open))
	for i, si := range m.open {
		s, ok := old[si.id]
		if !ok || s.rng != si.rng {
			s = &shard{id: si.id, rng: si.rng, total: &p.ready}
			s.agg.MaxSize = p.cfg.AggregationMaxSize
			s.agg.MaxCount = p.cfg.AggregationMaxCount
		}
		p.shards[si.id] = s
		p.order[i] = s
	}
	for id, s := range old {
		if p.shards[id] == s {
			continue
		}
		s.stale = true
		s.agg.Flush()
		var recs []*userRecord
		for _, e := range s.takeAll() {
			disband(e)
			recs = append(recs, e.recs...)
		}
		recs = append(recs, s.pending...)
		s.pending = nil
		for _, r := range recs {
			p.route(r)
		}
	}
}
