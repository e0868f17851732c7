package deagg

import "crypto/md5"

// md5Chunk bounds each step of an MD5. crypto/md5's assembly cannot be
// preempted: one call over a 1 MiB aggregate runs ~1.5 ms, and a garbage
// collection stopping the world waits that long for this goroutine while
// every other one is stopped. Steps of 16 KiB (~25 µs) give the scheduler a
// preemption point between them at no measurable cost.
const md5Chunk = 16 << 10

// md5Sum is md5.Sum(b), hashed in preemptible steps.
func md5Sum(b []byte) [md5.Size]byte {
	if len(b) <= md5Chunk {
		return md5.Sum(b)
	}
	h := md5.New()
	for len(b) > 0 {
		n := min(len(b), md5Chunk)
		h.Write(b[:n])
		b = b[n:]
	}
	var sum [md5.Size]byte
	h.Sum(sum[:0])
	return sum
}
