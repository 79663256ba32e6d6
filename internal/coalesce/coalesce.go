// Package coalesce writes the frames of all streams of a connection with
// one system call per batch instead of one per frame, on both sides of the
// static binary, by wrapping MOSN's xprotocol stream factory
// (xprotocol.RegisterXProtocolAction takes it).
//
// Why: MOSN v1.3.0's connection.Write makes one writev per call and never
// turns its write loop on, and its xprotocol stream layer calls Write once
// per frame (request upstream, response downstream, heartbeat reply). With
// pipelined RPC traffic that system call was 40–47% of MOSN's CPU
// (docs/performance.md). Here each stream connection gets a connection
// whose Write queues the frame; one flusher per connection, started when
// the first frame of a batch arrives and gone when the queue is empty,
// hands everything pending to MOSN's Write at once. On a connection that
// wrote nothing for a moment the caller itself is that writer for the
// first batch: it yields once, so that the goroutines made ready with it
// queue their frames behind its frame, and writes them together (with
// nothing else ready the frame leaves at once: no added latency).
//
// What stays as stock MOSN has it: the order of frames per connection,
// buffer ownership (MOSN's Write returns the buffers to the pool once
// written, as it does for its own write loop), Write returning
// ErrConnectionHasClosed after a close (so the stream is reset at once),
// and FlushWrite closing only after the frames queued before it are out.
//
// What is added: pending bytes per connection are bounded (a writer that
// would go past the bound waits until the peer takes some or the
// connection closes; MOSN's write deadline bounds the wait), and a failed
// batch write closes the connection, which resets every stream that had a
// frame in it: the byte stream can no longer be trusted, and no caller is
// left waiting for a timeout.
package coalesce

import (
	"context"

	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
)

// Configured is implemented by codecs that say whether their connections
// coalesce writes, and how many bytes one connection may have queued.
type Configured interface {
	WriteCoalescing() (on bool, maxPending int)
}

// WrapFactory wraps a codec's stream factory (MOSN's
// xstream.NewStreamFactory) so that the stream connections it makes write
// through a queue. Codecs that are not Configured keep stock behaviour.
func WrapFactory(newFactory func(api.XProtocolCodec) types.ProtocolStreamFactory) func(api.XProtocolCodec) types.ProtocolStreamFactory {
	return func(codec api.XProtocolCodec) types.ProtocolStreamFactory {
		inner := newFactory(codec)
		c, ok := codec.(Configured)
		if !ok {
			return inner
		}
		return &factory{ProtocolStreamFactory: inner, codec: c, name: codec.ProtocolName()}
	}
}

type factory struct {
	types.ProtocolStreamFactory
	codec Configured
	name  api.ProtocolName
}

func (f *factory) CreateServerStream(ctx context.Context, conn api.Connection,
	callbacks types.ServerStreamConnectionEventListener) types.ServerStreamConnection {
	if on, max := f.codec.WriteCoalescing(); on && conn != nil {
		conn = &serverConn{Connection: conn, q: newQueue(conn, max, f.name)}
	}
	return f.ProtocolStreamFactory.CreateServerStream(ctx, conn, callbacks)
}

func (f *factory) CreateClientStream(ctx context.Context, conn types.ClientConnection,
	clientCallbacks types.StreamConnectionEventListener, connCallbacks api.ConnectionEventListener) types.ClientStreamConnection {
	return f.ProtocolStreamFactory.CreateClientStream(ctx, f.client(conn), clientCallbacks, connCallbacks)
}

func (f *factory) CreateBiDirectStream(ctx context.Context, conn types.ClientConnection,
	clientCallbacks types.StreamConnectionEventListener, serverCallbacks types.ServerStreamConnectionEventListener) types.ClientStreamConnection {
	return f.ProtocolStreamFactory.CreateBiDirectStream(ctx, f.client(conn), clientCallbacks, serverCallbacks)
}

func (f *factory) client(conn types.ClientConnection) types.ClientConnection {
	if on, max := f.codec.WriteCoalescing(); on && conn != nil {
		return &clientConn{ClientConnection: conn, q: newQueue(conn, max, f.name)}
	}
	return conn
}

// serverConn is a downstream connection as its stream connection sees it:
// MOSN's connection, with writes and flushing closes going through q.
type serverConn struct {
	api.Connection
	q *queue
}

func (c *serverConn) Write(bufs ...buffer.IoBuffer) error { return c.q.write(bufs) }

func (c *serverConn) Close(ccType api.ConnectionCloseType, event api.ConnectionEvent) error {
	return c.q.close(ccType, event)
}

// clientConn is the same for an upstream connection.
type clientConn struct {
	types.ClientConnection
	q *queue
}

func (c *clientConn) Write(bufs ...buffer.IoBuffer) error { return c.q.write(bufs) }

func (c *clientConn) Close(ccType api.ConnectionCloseType, event api.ConnectionEvent) error {
	return c.q.close(ccType, event)
}
