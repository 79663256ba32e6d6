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
