//go:build !amd64 || purego

package fastjson

// b64Blocks decodes nothing: the caller decodes all of buf[off:end].
func b64Blocks(dst, buf []byte, off, end int) (int, int) { return 0, 0 }
