package producer

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"sort"
	"unicode/utf8"

	"github.com/kclgo/kclgo/deagg"
)

// u128 is a 128-bit hash key.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// hashOf returns the hash key of a partition key: the MD5 of its bytes.
func hashOf(pk string) u128 {
	sum := md5.Sum([]byte(pk))
	return u128{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

var maxU128 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// parseU128 parses a decimal hash key as Kinesis accepts it.
func parseU128(s string) (u128, bool) {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return u128{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return u128{}, false
		}
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || b.Cmp(maxU128) > 0 {
		return u128{}, false
	}
	var buf [16]byte
	b.FillBytes(buf[:])
	return u128{binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])}, true
}

// validate checks a record as PutRecords would, and returns its hash key.
func validate(pk, ehk string, data []byte) (u128, error) {
	if n := len(pk); n == 0 || n > deagg.MaxPartitionKeyLen || !utf8.ValidString(pk) {
		return u128{}, fmt.Errorf("%w: partition key %q: want 1 to %d bytes of UTF-8", ErrInvalidRecord, pk, deagg.MaxPartitionKeyLen)
	}
	if n := len(data) + len(pk); n > MaxRecordSize {
		return u128{}, fmt.Errorf("%w: partition key %q: data plus partition key is %d bytes, limit %d", ErrInvalidRecord, pk, n, MaxRecordSize)
	}
	if ehk == "" {
		return hashOf(pk), nil
	}
	h, ok := parseU128(ehk)
	if !ok {
		return u128{}, fmt.Errorf("%w: partition key %q: explicit hash key %q is not a decimal integer in [0, 2^128-1]", ErrInvalidRecord, pk, ehk)
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
