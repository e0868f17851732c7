package producer

import (
	"fmt"
	"testing"

	"github.com/kclgo/kclgo/deagg"
)

func TestHashOfMatchesDeagg(t *testing.T) {
	for i := range 1000 {
		pk := fmt.Sprint("key-", i)
		h, ok := parseU128(deagg.HashKey(pk))
		if !ok || h != hashOf(pk) {
			t.Fatalf("%s: hashOf %v, deagg.HashKey %s", pk, hashOf(pk), deagg.HashKey(pk))
		}
	}
}

func TestParseU128(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "1": true, "340282366920938463463374607431768211455": true,
		"340282366920938463463374607431768211456": false, "": false, "01": false, "-1": false, "1e3": false, " 1": false,
	} {
		if _, ok := parseU128(s); ok != want {
			t.Errorf("parseU128(%q) ok = %v, want %v", s, ok, want)
		}
	}
	h, _ := parseU128("340282366920938463463374607431768211455")
	if h != (u128{^uint64(0), ^uint64(0)}) {
		t.Errorf("max: %v", h)
	}
	h, _ = parseU128("18446744073709551616") // 2^64
	if h != (u128{1, 0}) {
		t.Errorf("2^64: %v", h)
	}
}

func TestShardMapFind(t *testing.T) {
	m := &shardMap{open: []shardInfo{
		{"a", hashRange{u128{0, 0}, u128{9, ^uint64(0)}}},
		{"b", hashRange{u128{10, 0}, u128{19, ^uint64(0)}}},
		{"c", hashRange{u128{20, 0}, u128{^uint64(0), ^uint64(0)}}},
	}}
	for h, want := range map[u128]string{
		{0, 0}: "a", {9, ^uint64(0)}: "a", {10, 0}: "b", {19, 5}: "b", {20, 0}: "c", {^uint64(0), ^uint64(0)}: "c",
	} {
		if got := m.open[m.find(h)].id; got != want {
			t.Errorf("find(%v) = %s, want %s", h, got, want)
		}
	}
}
