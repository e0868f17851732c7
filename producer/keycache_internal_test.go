package producer

import (
	"fmt"
	"testing"
)

func TestKeyCache(t *testing.T) {
	var c keyCache
	for round := range 3 {
		for i := range 100 {
			pk := fmt.Sprint("key-", i)
			if c.hash(pk) != hashOf(pk) {
				t.Fatalf("round %d: %s: wrong hash", round, pk)
			}
		}
	}
	if c.hits != 200 || len(c.m) != 100 {
		t.Errorf("repeated keys: %d hits, %d cached; want 200 and 100", c.hits, len(c.m))
	}
	// Keys that never repeat fill the cache without hits: it rests.
	c = keyCache{}
	for i := range keyCacheSize + 1 {
		pk := fmt.Sprint("unique-", i)
		if c.hash(pk) != hashOf(pk) {
			t.Fatalf("%s: wrong hash", pk)
		}
	}
	if c.rest != keyCacheRest || len(c.m) != 1 {
		t.Errorf("unique keys: rest %d, %d cached; want %d and 1", c.rest, len(c.m), keyCacheRest)
	}
	if c.hash("key-1") != hashOf("key-1") || c.rest != keyCacheRest-1 {
		t.Errorf("resting cache: rest %d", c.rest)
	}
}
