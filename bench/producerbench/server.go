package main

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
)

// The endpoint: a 4-shard stream that answers ListShards and PutRecords at
// once, each entry "stored" on the shard its hash key falls in (so the
// producer never sees a misroute), nothing kept.

const shards = 4

var bounds = func() []*big.Int { // shard i holds [bounds[i], bounds[i+1])
	top := new(big.Int).Lsh(big.NewInt(1), 128)
	b := make([]*big.Int, shards+1)
	for i := range b {
		b[i] = new(big.Int).Div(new(big.Int).Mul(top, big.NewInt(int64(i))), big.NewInt(shards))
	}
	return b
}()

func shardOf(pk, ehk string) int {
	h := new(big.Int)
	if ehk != "" {
		h.SetString(ehk, 10)
	} else {
		sum := md5.Sum([]byte(pk))
		h.SetBytes(sum[:])
	}
	for i := shards - 1; i > 0; i-- {
		if h.Cmp(bounds[i]) >= 0 {
			return i
		}
	}
	return 0
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

func serveEndpoint(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("http://" + l.Addr().String())
	var seq uint64
	return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch r.Header.Get("X-Amz-Target") {
		case "Kinesis_20131202.ListShards":
			type rng struct{ StartingHashKey, EndingHashKey string }
			type shard struct {
				ShardId             string
				HashKeyRange        rng
				SequenceNumberRange struct{ StartingSequenceNumber string }
			}
			var out struct{ Shards []shard }
			for i := range shards {
				end := new(big.Int).Sub(bounds[i+1], big.NewInt(1))
				s := shard{ShardId: shardID(i), HashKeyRange: rng{bounds[i].String(), end.String()}}
				s.SequenceNumberRange.StartingSequenceNumber = "1"
				out.Shards = append(out.Shards, s)
			}
			_ = json.NewEncoder(w).Encode(out)
		case "Kinesis_20131202.PutRecords":
			var in struct {
				Records []struct{ PartitionKey, ExplicitHashKey string }
			}
			if err := json.Unmarshal(body, &in); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			type entry struct{ ShardId, SequenceNumber string }
			out := struct {
				FailedRecordCount int
				Records           []entry
			}{Records: make([]entry, len(in.Records))}
			for i, e := range in.Records {
				seq++
				out.Records[i] = entry{shardID(shardOf(e.PartitionKey, e.ExplicitHashKey)), strconv.FormatUint(seq, 10)}
			}
			_ = json.NewEncoder(w).Encode(out)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"UnknownOperationException"}`))
		}
	}))
}
