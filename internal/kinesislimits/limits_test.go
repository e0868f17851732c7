package kinesislimits

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseHashKey(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "1": true, MaxHashKey: true, "99999999999999999999999999999999999999": true,
		"18446744073709551616": true, "340282366920938463463374607431768211456": false,
		"1000000000000000000000000000000000000000": false, "": false, "01": false, "-1": false,
		"+1": false, "0x10": false, "1e3": false, " 1": false,
	} {
		hi, lo, ok := ParseHashKey(s)
		if ok != want {
			t.Errorf("ParseHashKey(%q) ok = %v, want %v", s, ok, want)
			continue
		}
		if !ok {
			if err := CheckHashKey(s); !errors.Is(err, ErrHashKey) {
				t.Errorf("CheckHashKey(%q) = %v", s, err)
			}
			continue
		}
		b, _ := new(big.Int).SetString(s, 10)
		got := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		got.Or(got, new(big.Int).SetUint64(lo))
		if got.Cmp(b) != 0 {
			t.Errorf("ParseHashKey(%q) = %s", s, got)
		}
	}
}

func TestCheckPartitionKey(t *testing.T) {
	for pk, ok := range map[string]bool{
		"a": true, strings.Repeat("é", 128): true, strings.Repeat("k", 256): true,
		"": false, strings.Repeat("é", 129): false, strings.Repeat("k", 257): false, "\xff": false,
	} {
		err := CheckPartitionKey(pk)
		if PartitionKeyOK(pk) != ok {
			t.Errorf("PartitionKeyOK(%.10q…) = %v", pk, !ok)
		}
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrPartitionKey)) {
			t.Errorf("CheckPartitionKey(%.10q…) = %v, want ok %v", pk, err, ok)
		}
	}
}

func TestCheckRecordSize(t *testing.T) {
	if err := CheckRecordSize("k", MaxRecordSize-1); err != nil {
		t.Error(err)
	}
	if err := CheckRecordSize("k", MaxRecordSize); !errors.Is(err, ErrRecordSize) {
		t.Error(err)
	}
}

func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"0", "1", MaxHashKey, "01", "-1", "340282366920938463463374607431768211456"} {
		f.Add(s)
	}
	max, _ := new(big.Int).SetString(MaxHashKey, 10)
	f.Fuzz(func(t *testing.T, s string) {
		hi, lo, ok := ParseHashKey(s)
		b, isInt := new(big.Int).SetString(s, 10)
		canonical := isInt && b.Sign() >= 0 && b.Cmp(max) <= 0 && b.String() == s
		if ok != canonical {
			t.Fatalf("ParseHashKey(%q) ok = %v, want %v", s, ok, canonical)
		}
		if ok {
			got := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
			got.Or(got, new(big.Int).SetUint64(lo))
			if got.Cmp(b) != 0 {
				t.Fatalf("ParseHashKey(%q) = %s", s, got)
			}
		}
	})
}
