package hessian2

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers (the Dubbo codec) can decide with errors.Is whether to
// answer with a protocol error (ErrMalformed, ErrTooDeep) or to wait for more
// bytes (ErrTruncated) without parsing messages.
var (
	// ErrMalformed reports bytes that can never become valid Hessian 2.0,
	// whatever follows: reserved tags, a terminator in the wrong place, a
	// reference to an unknown class definition, a value of the wrong type.
	ErrMalformed = errors.New("malformed hessian2 data")
	// ErrTruncated reports that the input ended (or that a declared length
	// exceeds what is left) before the value was complete.
	ErrTruncated = errors.New("truncated hessian2 data")
	// ErrTooDeep reports nesting of lists, maps and objects beyond the
	// Reader's limit; it exists so hostile input cannot make the walker keep
	// an unbounded stack.
	ErrTooDeep = errors.New("hessian2 nesting too deep")
)

// fail builds the package's error format. It is only reached on the error
// path, so the allocation done by fmt.Errorf never touches the hot path.
// at is the offset of the tag being processed, which is what an operator
// needs to find the offending bytes in a packet capture.
func (r *Reader) fail(at int, what string, kind error) error {
	var tag byte
	if at >= 0 && at < len(r.buf) {
		tag = r.buf[at]
	}
	return fmt.Errorf("hessian2: %s at offset %d (tag 0x%02x): %w", what, at, tag, kind)
}
