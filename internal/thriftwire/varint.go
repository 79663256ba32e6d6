package thriftwire

import "math"

// AppendVarint32 appends v as an unsigned LEB128 varint (1 to 5 bytes), the
// encoding the compact protocol uses for lengths, sizes, the message seqid
// and (after zigzag) for i16/i32 values, and that THeader uses for its
// protocol id, transform and info headers.
func AppendVarint32(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// ReadVarint32 decodes an unsigned LEB128 varint of at most 5 bytes at the
// start of b and returns the value and the number of bytes consumed.
// It returns ErrShort when b ends inside a (so far valid) varint and
// ErrMalformed when the varint is longer than 5 bytes or its fifth byte
// carries bits beyond 32. Non-minimal encodings (0x80 0x00) are accepted,
// as the reference implementations do.
func ReadVarint32(b []byte) (v uint32, n int, err error) {
	v, n, c := uvarint32(b, 0)
	if c != nil {
		return 0, 0, wrap(c, b, n)
	}
	return v, n, nil
}

// uvarint32 decodes a 32-bit varint at b[off:]. On success n is the length
// of the encoding; on failure n is the offset to report.
func uvarint32(b []byte, off int) (v uint32, n int, c *cause) {
	// Fast path: single byte, the common case for lengths and small ints.
	if off < len(b) && b[off] < 0x80 {
		return uint32(b[off]), 1, nil
	}
	for i := 0; i < 5; i++ {
		if off+i >= len(b) {
			return 0, off + i, cShortVarint
		}
		x := b[off+i]
		if i == 4 {
			if x >= 0x80 {
				return 0, off + i, cVarintLong
			}
			if x > 0x0f {
				return 0, off + i, cVarintOverflow
			}
		}
		v |= uint32(x&0x7f) << (7 * uint(i))
		if x < 0x80 {
			return v, i + 1, nil
		}
	}
	panic("unreachable")
}

// skipVarint32 steps over a 32-bit varint at b[off:] without decoding it
// and returns the offset after it (or the failing offset).
func skipVarint32(b []byte, off int) (int, *cause) {
	for i := 0; i < 5; i++ {
		if off+i >= len(b) {
			return off + i, cShortVarint
		}
		if x := b[off+i]; x < 0x80 {
			if i == 4 && x > 0x0f {
				return off + i, cVarintOverflow
			}
			return off + i + 1, nil
		}
	}
	return off + 4, cVarintLong
}

// skipVarint64 steps over a 64-bit varint (at most 10 bytes) at b[off:] and
// returns the offset after it (or the failing offset).
func skipVarint64(b []byte, off int) (int, *cause) {
	for i := 0; i < 10; i++ {
		if off+i >= len(b) {
			return off + i, cShortVarint
		}
		x := b[off+i]
		if i == 9 {
			if x >= 0x80 {
				return off + i, cVarintLong
			}
			if x > 0x01 {
				return off + i, cVarintOverflow
			}
		}
		if x < 0x80 {
			return off + i + 1, nil
		}
	}
	panic("unreachable")
}

// readSize32 decodes a compact length/size varint, which must fit a
// non-negative int32.
func readSize32(b []byte, off int, neg *cause) (size int, n int, c *cause) {
	v, n, c := uvarint32(b, off)
	if c != nil {
		return 0, n, c
	}
	if v > math.MaxInt32 {
		return 0, off, neg
	}
	return int(v), n, nil
}

func zigzag32(v uint32) int32 { return int32(v>>1) ^ -int32(v&1) }

func appendZigzag32(dst []byte, v int32) []byte {
	return AppendVarint32(dst, uint32(v<<1)^uint32(v>>31))
}
