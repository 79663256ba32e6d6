package rpcmeta

import "fmt"

// DefaultMaxPendingWriteBytes bounds the bytes queued for one connection
// while write coalescing is on (internal/coalesce): room for a few hundred
// ordinary frames or a few of the largest, small enough that a thousand
// connections to stalled peers cannot hold gigabytes.
const DefaultMaxPendingWriteBytes = 4 << 20

// ConnWrites are the write options every meshproto codec takes in its
// "extends" config (read by internal/coalesce in the static binary). A
// codec's Config embeds it beside ConnTimeouts.
type ConnWrites struct {
	// CoalesceWrites queues the frames of all streams of a connection and
	// writes whatever is pending with one system call (default true).
	// false writes every frame with a call of its own, as stock MOSN does.
	CoalesceWrites *bool `json:"coalesce_writes,omitempty"`
	// MaxPendingWriteBytes bounds the queued bytes per connection
	// (DefaultMaxPendingWriteBytes): a writer that would go past it waits
	// until the peer has taken some, or the connection closes.
	MaxPendingWriteBytes int `json:"max_pending_write_bytes,omitempty"`
}

// Parse returns the options, defaults filled in, or an error naming the
// bad field.
func (w ConnWrites) Parse(protocol string) (coalesce bool, maxPending int, err error) {
	coalesce, maxPending = true, DefaultMaxPendingWriteBytes
	if w.CoalesceWrites != nil {
		coalesce = *w.CoalesceWrites
	}
	if w.MaxPendingWriteBytes != 0 {
		maxPending = w.MaxPendingWriteBytes
	}
	if maxPending < 4<<10 || maxPending > 1<<30 {
		return false, 0, fmt.Errorf("%s config: max_pending_write_bytes %d out of range [%d, %d]", protocol, w.MaxPendingWriteBytes, 4<<10, 1<<30)
	}
	return coalesce, maxPending, nil
}
