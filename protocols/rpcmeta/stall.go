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

// ParseStallTimeout reads a codec's "stall_timeout" option: a Go duration
// ("30s"), "" for the default, "0s" to turn the watch off.
func ParseStallTimeout(protocol, s string) (time.Duration, error) {
	if s == "" {
		return DefaultStallTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s config: stall_timeout %q: want a duration such as \"30s\" (0 turns it off)", protocol, s)
	}
	return d, nil
}
