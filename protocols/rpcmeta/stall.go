package rpcmeta

import (
	"fmt"
	"time"
)

// DefaultStallTimeout is how long an upstream connection with requests in
// flight may go without any response before the static binary closes it
// (internal/stallwatch). It is half of MOSN's default request timeout
// (60 s, which applies when neither the route nor the client sets one),
// so that a wedged connection is replaced while its callers still wait;
// a route whose calls legitimately take longer than this on a connection
// that answers nothing else meanwhile needs a larger stall_timeout.
const DefaultStallTimeout = 30 * time.Second

// DefaultFrameTimeout is how long a downstream frame may take from its
// first byte to its last before the static binary closes the connection
// (internal/stallwatch): far longer than any healthy client needs for a
// frame within max_frame_bytes, far shorter than MOSN's 90 s idle timeout
// that a trickling client never trips.
const DefaultFrameTimeout = 15 * time.Second

// ConnTimeouts are the connection timeouts every meshproto codec takes in
// its "extends" config (read by internal/stallwatch in the static binary).
// A codec's Config embeds it, so the JSON keys sit beside the codec's own.
type ConnTimeouts struct {
	// StallTimeout: an upstream connection with requests in flight that
	// receives nothing for this long is closed and replaced
	// (DefaultStallTimeout, "0s" turns it off).
	StallTimeout string `json:"stall_timeout,omitempty"`
	// FrameTimeout: a downstream frame not complete this long after its
	// first byte closes the connection (DefaultFrameTimeout, "0s" turns
	// it off).
	FrameTimeout string `json:"frame_timeout,omitempty"`
}

// Parse returns the two timeouts, defaults filled in, or an error naming
// the bad field.
func (t ConnTimeouts) Parse(protocol string) (stall, frame time.Duration, err error) {
	if stall, err = ParseTimeout(protocol, "stall_timeout", t.StallTimeout, DefaultStallTimeout); err != nil {
		return 0, 0, err
	}
	if frame, err = ParseTimeout(protocol, "frame_timeout", t.FrameTimeout, DefaultFrameTimeout); err != nil {
		return 0, 0, err
	}
	return stall, frame, nil
}

// ParseTimeout reads a codec's duration option: a Go duration ("30s"), ""
// for def, "0s" to turn the feature off.
func ParseTimeout(protocol, field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s config: %s %q: want a duration such as \"30s\" (0 turns it off)", protocol, field, s)
	}
	return d, nil
}
