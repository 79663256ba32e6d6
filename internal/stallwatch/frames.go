package stallwatch

import (
	"context"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
)

// A client that sends part of a frame and stops (or trickles a byte now
// and then) holds its connection and buffer: MOSN's idle checker only
// closes a connection that has read nothing for its idle timeout (90 s by
// default), so a byte a minute keeps one open forever. A downstream
// connection whose unfinished frame has not completed within the codec's
// frame_timeout of its first byte is closed. One timer per connection,
// armed while a frame is unfinished, waking at most once a bound.

// FrameConfigured is implemented by codecs that bound how long a frame
// may take to arrive. 0 turns the deadline off.
type FrameConfigured interface {
	FrameTimeout() time.Duration
}

func (f *factory) CreateServerStream(ctx context.Context, conn api.Connection,
	callbacks types.ServerStreamConnectionEventListener) types.ServerStreamConnection {
	inner := f.ProtocolStreamFactory.CreateServerStream(ctx, conn, callbacks)
	fc, ok := f.codec.(FrameConfigured)
	if inner == nil || conn == nil || !ok {
		return inner
	}
	bound := fc.FrameTimeout()
	if bound <= 0 {
		return inner
	}
	d := &deadline{ServerStreamConnection: inner, conn: conn, bound: bound, name: f.name, now: time.Now}
	conn.AddConnectionEventListener(d)
	return d
}

type deadline struct {
	types.ServerStreamConnection
	conn  api.Connection
	bound time.Duration
	name  api.ProtocolName
	now   func() time.Time

	armed
	pending bool      // bytes of an unfinished frame are buffered
	due     time.Time // when the unfinished frame must be complete
}

// Dispatch decodes what arrived. Bytes left over are an unfinished frame:
// if a frame completed in this read, the leftover is a new frame, due a
// bound from now; if none did, the frame that was pending keeps its due
// time, so a client trickling bytes never extends it.
func (d *deadline) Dispatch(buf buffer.IoBuffer) {
	before := buf.Len()
	d.ServerStreamConnection.Dispatch(buf)
	after := buf.Len()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if after == 0 {
		d.pending = false // the timer, if armed, finds nothing and disarms
		return
	}
	if !d.pending || after < before {
		d.due = d.now().Add(d.bound)
	}
	d.pending = true
	if d.timer == nil {
		d.timer = time.AfterFunc(d.bound, d.expire)
	}
}

// expire runs at most once a bound per connection with frames pending.
func (d *deadline) expire() {
	d.mu.Lock()
	if d.closed || !d.pending {
		d.timer = nil
		d.mu.Unlock()
		return
	}
	if wait := d.due.Sub(d.now()); wait > 0 {
		d.timer.Reset(wait)
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.timer = nil
	d.mu.Unlock()
	log.DefaultLogger.Warnf("[meshproto] [%s] connection %d from %s: a frame still unfinished after %v (frame_timeout): closing it",
		d.name, d.conn.ID(), d.conn.RemoteAddr(), d.bound)
	_ = d.conn.Close(api.NoFlush, api.LocalClose)
}
