// Package zerocopy turns bytes into strings without copying. Codecs keep
// each frame's bytes immutable once decoded, so names and headers can be
// views into them: that is what keeps decode at one allocation per frame.
package zerocopy

import "unsafe"

// String returns a string sharing b's memory. b must never be written
// to afterwards.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Inside reports whether b is a sub-slice of buf, so that a view of b
// lives exactly as long as buf's bytes (not a reader's scratch space).
func Inside(b, buf []byte) bool {
	if len(b) == 0 || len(buf) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(buf))
}
