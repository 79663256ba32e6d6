// Package stallwatch closes connections that stall, on both sides of the
// static binary, by wrapping MOSN's xprotocol stream factory
// (xprotocol.RegisterXProtocolAction takes it).
//
// Upstream: MOSN multiplexes many clients' requests on one upstream
// connection and keeps it as long as the socket is up. When the server
// stops reading it (a server thread stuck on bytes it took for part of a
// message, a process paused, a half-dead middlebox), every request on it
// times out, and so does every later one: MOSN never replaces a connection
// for timeouts. A connection with requests in flight that has received
// nothing for a bound (the codec's stall_timeout) is wedged; it is closed
// with a log line, the requests still on it are reset (the proxy answers
// them as an upstream failure, or retries them), and the pool opens a new
// one. Per connection it costs one mutex, a counter and one timer armed
// only while requests are in flight; per request one small struct.
//
// Downstream: a frame still unfinished frame_timeout after its first byte
// closes its connection (frames.go).
//
// No goroutine of its own: the timers run on Go's timer goroutine and are
// stopped when the connection closes.
package stallwatch

import (
	"context"
	"sync"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
)

// Configured is implemented by codecs that say how long an upstream
// connection may go without any response while requests wait on it.
// 0 turns the watch off for connections made from then on.
type Configured interface {
	StallTimeout() time.Duration
}

// WrapFactory wraps a codec's stream factory (MOSN's
// xstream.NewStreamFactory) so that its client connections are watched.
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

func (f *factory) CreateClientStream(ctx context.Context, conn types.ClientConnection,
	clientCallbacks types.StreamConnectionEventListener, connCallbacks api.ConnectionEventListener) types.ClientStreamConnection {
	inner := f.ProtocolStreamFactory.CreateClientStream(ctx, conn, clientCallbacks, connCallbacks)
	bound := f.codec.StallTimeout()
	if inner == nil || conn == nil || bound <= 0 {
		return inner
	}
	w := &watched{ClientStreamConnection: inner, conn: conn, bound: bound, name: f.name, now: time.Now}
	conn.AddConnectionEventListener(w)
	return w
}

// watched is one upstream stream connection under watch.
type watched struct {
	types.ClientStreamConnection
	conn  types.ClientConnection
	bound time.Duration
	name  api.ProtocolName
	now   func() time.Time

	armed
	inFlight int
	progress time.Time // the last response, or when the first request in flight was sent
}

// armed is the state both watches keep: a timer armed while there is
// something to watch, and whether the connection is gone.
type armed struct {
	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

// OnEvent stops the watch when the connection closes.
func (a *armed) OnEvent(event api.ConnectionEvent) {
	if !event.IsClose() {
		return
	}
	a.mu.Lock()
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
}

// NewStream counts a request in flight until its response, its reset, or
// (for a one-way request) its sending. A stream without a receiver (MOSN
// sends one-way requests and mirror copies that way) expects no response
// and is not counted.
func (w *watched) NewStream(ctx context.Context, receiver types.StreamReceiveListener) types.StreamSender {
	if receiver == nil {
		return w.ClientStreamConnection.NewStream(ctx, nil)
	}
	s := &stream{w: w, receiver: receiver}
	sender := w.ClientStreamConnection.NewStream(ctx, s)
	if sender == nil {
		return nil
	}
	s.sender = sender
	w.begin()
	if st := sender.GetStream(); st != nil {
		st.AddEventListener(s)
	}
	return s
}

func (w *watched) begin() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.inFlight == 0 {
		w.progress = w.now()
	}
	w.inFlight++
	if w.timer == nil {
		w.timer = time.AfterFunc(w.bound, w.check)
	}
}

func (w *watched) end(answered bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inFlight > 0 {
		w.inFlight--
	}
	if answered {
		w.progress = w.now()
	}
}

// check runs when the bound may have passed since the last progress.
func (w *watched) check() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if w.inFlight == 0 {
		w.timer = nil
		w.mu.Unlock()
		return
	}
	idle := w.now().Sub(w.progress)
	if idle < w.bound {
		w.timer.Reset(w.bound - idle)
		w.mu.Unlock()
		return
	}
	n := w.inFlight
	w.closed = true
	w.timer = nil
	w.mu.Unlock()
	log.DefaultLogger.Warnf("[meshproto] [%s] upstream connection %d to %s: %d requests in flight and no response for %v (stall_timeout %v): closing it, new requests go to a new connection",
		w.name, w.conn.ID(), w.conn.RemoteAddr(), n, idle.Round(time.Millisecond), w.bound)
	_ = w.conn.Close(api.NoFlush, api.LocalClose)
}

// stream is one request: the receiver MOSN gave, and the sender it gets.
type stream struct {
	w        *watched
	receiver types.StreamReceiveListener
	sender   types.StreamSender
	once     sync.Once
}

func (s *stream) finish(answered bool) { s.once.Do(func() { s.w.end(answered) }) }

func (s *stream) OnReceive(ctx context.Context, headers api.HeaderMap, data buffer.IoBuffer, trailers api.HeaderMap) {
	s.finish(true)
	s.receiver.OnReceive(ctx, headers, data, trailers)
}

func (s *stream) OnDecodeError(ctx context.Context, err error, headers api.HeaderMap) {
	s.finish(true)
	s.receiver.OnDecodeError(ctx, err, headers)
}

// OnResetStream: the request ended without a response (timeout, local
// reset, connection closed).
func (s *stream) OnResetStream(types.StreamResetReason) { s.finish(false) }

func (s *stream) OnDestroyStream() {}

// AppendHeaders sends the request; a one-way request expects no response.
func (s *stream) AppendHeaders(ctx context.Context, headers api.HeaderMap, endStream bool) error {
	err := s.sender.AppendHeaders(ctx, headers, endStream)
	if f, ok := headers.(api.XFrame); ok && f.GetStreamType() == api.RequestOneWay {
		s.finish(false)
	}
	return err
}

func (s *stream) AppendData(ctx context.Context, data buffer.IoBuffer, endStream bool) error {
	return s.sender.AppendData(ctx, data, endStream)
}

func (s *stream) AppendTrailers(ctx context.Context, trailers api.HeaderMap) error {
	return s.sender.AppendTrailers(ctx, trailers)
}

func (s *stream) GetStream() types.Stream { return s.sender.GetStream() }
