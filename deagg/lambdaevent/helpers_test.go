package lambdaevent_test

import (
	"crypto/md5"

	"github.com/kclgo/kclgo/deagg"
)

// deaggTestAggregate wraps a protobuf body in the magic and its MD5.
func deaggTestAggregate(body []byte) []byte {
	sum := md5.Sum(body)
	out := append([]byte(deagg.Magic), body...)
	return append(out, sum[:]...)
}
