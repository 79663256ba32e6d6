package stallwatch

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
)

type fakeConn struct {
	types.ClientConnection
	closed    atomic.Int32
	mu        sync.Mutex
	listeners []api.ConnectionEventListener
}

func (c *fakeConn) AddConnectionEventListener(l api.ConnectionEventListener) {
	c.mu.Lock()
	c.listeners = append(c.listeners, l)
	c.mu.Unlock()
}
func (c *fakeConn) ID() uint64 { return 7 }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20880}
}
func (c *fakeConn) Close(api.ConnectionCloseType, api.ConnectionEvent) error {
	c.closed.Add(1)
	c.mu.Lock()
	ls := c.listeners
	c.mu.Unlock()
	for _, l := range ls {
		l.OnEvent(api.LocalClose)
	}
	return nil
}

type fakeStream struct {
	types.Stream
	listeners []types.StreamEventListener
}

func (s *fakeStream) AddEventListener(l types.StreamEventListener) {
	s.listeners = append(s.listeners, l)
}

type fakeSender struct {
	types.StreamSender
	stream *fakeStream
}

func (s *fakeSender) GetStream() types.Stream { return s.stream }
func (s *fakeSender) AppendHeaders(context.Context, api.HeaderMap, bool) error {
	return nil
}

type fakeStreamConn struct {
	types.ClientStreamConnection
	receivers []types.StreamReceiveListener
	senders   []*fakeSender
}

func (c *fakeStreamConn) NewStream(_ context.Context, r types.StreamReceiveListener) types.StreamSender {
	s := &fakeSender{stream: &fakeStream{}}
	c.receivers = append(c.receivers, r)
	c.senders = append(c.senders, s)
	return s
}

type nopReceiver struct{}

func (nopReceiver) OnReceive(context.Context, api.HeaderMap, buffer.IoBuffer, api.HeaderMap) {}
func (nopReceiver) OnDecodeError(context.Context, error, api.HeaderMap)                      {}

func newWatched(bound time.Duration) (*watched, *fakeConn, *fakeStreamConn) {
	conn := &fakeConn{}
	sc := &fakeStreamConn{}
	w := &watched{ClientStreamConnection: sc, conn: conn, bound: bound, name: "dubbo", now: time.Now}
	conn.AddConnectionEventListener(w)
	return w, conn, sc
}

func TestAConnectionThatAnswersNothingIsClosed(t *testing.T) {
	w, conn, _ := newWatched(50 * time.Millisecond)
	s := w.NewStream(context.Background(), nopReceiver{})
	require.NoError(t, s.AppendHeaders(context.Background(), nil, true))
	require.Eventually(t, func() bool { return conn.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, int32(1), conn.closed.Load(), "closed once")
}

func TestResponsesKeepTheConnection(t *testing.T) {
	w, conn, sc := newWatched(80 * time.Millisecond)
	// A steady trickle of requests, each answered in turn: in flight all
	// the time, never idle for the bound.
	for i := 0; i < 10; i++ {
		w.NewStream(context.Background(), nopReceiver{})
		time.Sleep(20 * time.Millisecond)
		sc.receivers[i].OnReceive(context.Background(), nil, nil, nil)
	}
	assert.Zero(t, conn.closed.Load())
}

func TestEndedRequestsDisarm(t *testing.T) {
	w, conn, sc := newWatched(30 * time.Millisecond)
	w.NewStream(context.Background(), nopReceiver{})
	// Reset (a timeout, a cancelled call) ends it without a response.
	for _, l := range sc.senders[0].stream.listeners {
		l.OnResetStream(types.StreamLocalReset)
	}
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, conn.closed.Load(), "nothing in flight: nothing to wait for")
	w.mu.Lock()
	assert.Nil(t, w.timer, "the timer is not re-armed with nothing in flight")
	assert.Zero(t, w.inFlight)
	w.mu.Unlock()
}

type onewayFrame struct {
	api.XFrame
	api.HeaderMap
}

func (onewayFrame) GetStreamType() api.StreamType { return api.RequestOneWay }

func TestOnewayRequestsExpectNoResponse(t *testing.T) {
	w, conn, _ := newWatched(30 * time.Millisecond)
	s := w.NewStream(context.Background(), nopReceiver{})
	require.NoError(t, s.AppendHeaders(context.Background(), onewayFrame{}, true))
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, conn.closed.Load())
}

type fakeServerConn struct {
	types.ServerStreamConnection
	consume func(buffer.IoBuffer)
}

func (c *fakeServerConn) Dispatch(buf buffer.IoBuffer) { c.consume(buf) }

type fakeDownstream struct {
	api.Connection
	closed atomic.Int32
}

func (c *fakeDownstream) ID() uint64 { return 9 }
func (c *fakeDownstream) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fakeDownstream) Close(api.ConnectionCloseType, api.ConnectionEvent) error {
	c.closed.Add(1)
	return nil
}

// frames4 consumes whole 4-byte "frames" and leaves the rest.
func frames4(buf buffer.IoBuffer) { buf.Drain(buf.Len() / 4 * 4) }

func TestAnUnfinishedFrameMustCompleteInTime(t *testing.T) {
	conn := &fakeDownstream{}
	d := &deadline{ServerStreamConnection: &fakeServerConn{consume: frames4}, conn: conn, bound: 60 * time.Millisecond, name: "thrift", now: time.Now}
	buf := buffer.NewIoBuffer(64)
	// A trickler: one byte at a time, never a whole frame in time.
	for i := 0; i < 3; i++ {
		_, _ = buf.Write([]byte{1})
		d.Dispatch(buf)
		time.Sleep(15 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return conn.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
}

func TestABusyConnectionWithFramesAcrossReadsStays(t *testing.T) {
	conn := &fakeDownstream{}
	d := &deadline{ServerStreamConnection: &fakeServerConn{consume: frames4}, conn: conn, bound: 50 * time.Millisecond, name: "dubbo", now: time.Now}
	buf := buffer.NewIoBuffer(64)
	// Every read ends in the middle of a frame, for many times the bound,
	// but frames keep completing.
	for i := 0; i < 40; i++ {
		_, _ = buf.Write([]byte{1, 2, 3, 4, 5, 6})
		d.Dispatch(buf)
		time.Sleep(5 * time.Millisecond)
	}
	assert.Zero(t, conn.closed.Load())
	_, _ = buf.Write([]byte{1, 2, 3, 4})
	d.Dispatch(buf)
	require.Zero(t, buf.Len())
	time.Sleep(120 * time.Millisecond)
	assert.Zero(t, conn.closed.Load(), "nothing pending: nothing to close")
	d.mu.Lock()
	assert.Nil(t, d.timer, "disarmed")
	d.mu.Unlock()
}

func TestStreamsWithoutReceiverAreNotWatched(t *testing.T) {
	w, conn, sc := newWatched(30 * time.Millisecond)
	s := w.NewStream(context.Background(), nil)
	require.NotNil(t, s)
	assert.Equal(t, []types.StreamReceiveListener{nil}, sc.receivers, "MOSN gets no receiver, as it asked")
	time.Sleep(100 * time.Millisecond)
	assert.Zero(t, conn.closed.Load())
}
