package dubbopeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Logger receives diagnostic lines; *log.Logger satisfies it.
type Logger interface {
	Printf(format string, args ...interface{})
}

// Errors returned by Client methods.
var (
	ErrTimeout = errors.New("dubbopeer: call timed out")
	ErrClosed  = errors.New("dubbopeer: client closed")
)

// DefaultCallTimeout is the client's default per-call timeout.
const DefaultCallTimeout = 3 * time.Second

// maxExpired bounds how many timed-out request ids the client remembers so
// that their late responses are not counted as mismatches.
const maxExpired = 1 << 16

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithLogger sets a logger for protocol violations and connection events.
func WithLogger(l Logger) ClientOption { return func(c *Client) { c.logger = l } }

// WithDefaultTimeout sets the timeout used when Invocation.Timeout is zero
// (also used by Heartbeat when ctx has no deadline).
func WithDefaultTimeout(d time.Duration) ClientOption {
	return func(c *Client) {
		if d > 0 {
			c.defaultTimeout = d
		}
	}
}

// WithFirstRequestID sets the first request id used (default 1).
func WithFirstRequestID(id uint64) ClientOption {
	return func(c *Client) { c.nextID.Store(id - 1) }
}

// Client is a pipelining Dubbo consumer on one connection. It is safe for
// concurrent use; responses are correlated to calls by request id.
type Client struct {
	conn           net.Conn
	logger         Logger
	defaultTimeout time.Duration
	nextID         atomic.Uint64

	wmu sync.Mutex

	mu         sync.Mutex
	pending    map[uint64]chan *Frame
	heartbeats map[uint64]chan *Frame
	expired    map[uint64]struct{}
	expiredQ   []uint64
	err        error // set once the connection is dead

	done chan struct{}

	mismatches atomic.Int64
	late       atomic.Int64
	pings      atomic.Int64
	unexpected atomic.Int64
}

// Dial connects to addr over TCP and starts the response reader.
func Dial(ctx context.Context, addr string, opts ...ClientOption) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(conn, opts...), nil
}

// NewClient wraps an established connection (e.g. one end of net.Pipe).
func NewClient(conn net.Conn, opts ...ClientOption) *Client {
	c := &Client{
		conn:           conn,
		defaultTimeout: DefaultCallTimeout,
		pending:        make(map[uint64]chan *Frame),
		heartbeats:     make(map[uint64]chan *Frame),
		expired:        make(map[uint64]struct{}),
		done:           make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	go c.readLoop()
	return c
}

func (c *Client) logf(format string, args ...interface{}) {
	if c.logger != nil {
		c.logger.Printf(format, args...)
	}
}

// Mismatches counts responses whose request id matched no outstanding call
// or heartbeat (including a heartbeat response carrying a call's id and a
// normal response carrying a heartbeat's id).
func (c *Client) Mismatches() int64 { return c.mismatches.Load() }

// LateResponses counts responses that arrived for calls that had already
// timed out or been cancelled (not counted as mismatches).
func (c *Client) LateResponses() int64 { return c.late.Load() }

// HeartbeatsAnswered counts heartbeat requests received from the peer
// (and answered).
func (c *Client) HeartbeatsAnswered() int64 { return c.pings.Load() }

// UnexpectedRequests counts non-heartbeat requests received from the peer.
func (c *Client) UnexpectedRequests() int64 { return c.unexpected.Load() }

// LocalAddr returns the local address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Done is closed when the connection is gone.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection is gone (nil while it is alive).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection; outstanding calls fail with ErrClosed.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	err := c.conn.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (c *Client) shutdown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	for id, ch := range c.pending {
		delete(c.pending, id)
		close(ch)
	}
	for id, ch := range c.heartbeats {
		delete(c.heartbeats, id)
		close(ch)
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	r := newReader(c.conn)
	for {
		f, err := ReadFrame(r)
		if err != nil {
			c.mu.Lock()
			alive := c.err == nil
			c.mu.Unlock()
			if alive {
				c.logf("dubbopeer client: connection lost: %v", err)
				c.shutdown(fmt.Errorf("dubbopeer: connection lost: %w", err))
			}
			c.conn.Close()
			return
		}
		c.dispatch(f)
	}
}

func (c *Client) dispatch(f *Frame) {
	h := f.Header
	if h.IsRequest() {
		if h.IsEvent() {
			c.pings.Add(1)
			if h.IsTwoWay() {
				go func() {
					if err := c.write(context.Background(), EncodeHeartbeat(h.ID, false)); err != nil {
						c.logf("dubbopeer client: answering heartbeat %d: %v", h.ID, err)
					}
				}()
			}
			return
		}
		c.unexpected.Add(1)
		c.logf("dubbopeer client: unexpected request frame id=%d flag=%#x", h.ID, h.Flag)
		return
	}
	c.mu.Lock()
	var ch chan *Frame
	var ok bool
	if h.IsEvent() {
		if ch, ok = c.heartbeats[h.ID]; ok {
			delete(c.heartbeats, h.ID)
		}
	} else if ch, ok = c.pending[h.ID]; ok {
		delete(c.pending, h.ID)
	}
	_, wasExpired := c.expired[h.ID]
	if !ok && wasExpired {
		delete(c.expired, h.ID)
	}
	c.mu.Unlock()
	switch {
	case ok:
		ch <- f
	case wasExpired:
		c.late.Add(1)
		c.logf("dubbopeer client: late response id=%d status=%d (call already timed out)", h.ID, h.Status)
	default:
		c.mismatches.Add(1)
		c.logf("dubbopeer client: MISMATCH: response id=%d status=%d event=%v matches no outstanding request", h.ID, h.Status, h.IsEvent())
	}
}

// write sends one whole frame; a failed write kills the connection since
// a partial frame corrupts the stream.
func (c *Client) write(ctx context.Context, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	_ = c.conn.SetWriteDeadline(dl)
	if _, err := c.conn.Write(b); err != nil {
		c.shutdown(fmt.Errorf("dubbopeer: write failed: %w", err))
		c.conn.Close()
		return fmt.Errorf("dubbopeer: write failed: %w", err)
	}
	return nil
}

func (c *Client) register(heartbeat bool) (uint64, chan *Frame, error) {
	ch := make(chan *Frame, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, nil, c.err
	}
	id := c.nextID.Add(1)
	if heartbeat {
		c.heartbeats[id] = ch
	} else {
		c.pending[id] = ch
	}
	return id, ch, nil
}

// abandon forgets an outstanding id; when remember is set a later response
// for it counts as late instead of a mismatch.
func (c *Client) abandon(id uint64, heartbeat, remember bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if heartbeat {
		delete(c.heartbeats, id)
	} else {
		delete(c.pending, id)
	}
	if !remember {
		return
	}
	c.expired[id] = struct{}{}
	c.expiredQ = append(c.expiredQ, id)
	if len(c.expiredQ) > maxExpired {
		old := c.expiredQ[0]
		c.expiredQ = c.expiredQ[1:]
		delete(c.expired, old)
	}
}

func (c *Client) await(ctx context.Context, id uint64, ch chan *Frame, heartbeat bool, timeout time.Duration, what string) (*Frame, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case f, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		return f, nil
	case <-timer.C:
		c.abandon(id, heartbeat, true)
		return nil, fmt.Errorf("%s id=%d after %v: %w", what, id, timeout, ErrTimeout)
	case <-ctx.Done():
		c.abandon(id, heartbeat, true)
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s id=%d: %w (%v)", what, id, ErrTimeout, err)
		}
		return nil, fmt.Errorf("%s id=%d: %w", what, id, err)
	}
}

// Call performs a two-way invocation. The returned error reports only
// transport problems, timeouts (errors.Is(err, ErrTimeout)) and undecodable
// responses; Dubbo-level errors are in the Result.
func (c *Client) Call(ctx context.Context, inv *Invocation) (*Result, error) {
	if inv == nil {
		return nil, errors.New("dubbopeer: nil invocation")
	}
	inv2 := *inv
	if inv2.Timeout <= 0 {
		inv2.Timeout = c.defaultTimeout
	}
	id, ch, err := c.register(false)
	if err != nil {
		return nil, err
	}
	frame, err := EncodeRequestFrame(id, &inv2, true)
	if err != nil {
		c.abandon(id, false, false)
		return nil, err
	}
	if err := c.write(ctx, frame); err != nil {
		c.abandon(id, false, false)
		return nil, err
	}
	what := "dubbopeer: call " + inv.Service + "#" + inv.Method
	f, err := c.await(ctx, id, ch, false, inv2.Timeout, what)
	if err != nil {
		return nil, err
	}
	res, err := DecodeResponse(f)
	if err != nil {
		return res, fmt.Errorf("%s id=%d: bad response: %w", what, id, err)
	}
	return res, nil
}

// Oneway sends a one-way request (two-way bit clear); no response is
// expected.
func (c *Client) Oneway(ctx context.Context, inv *Invocation) error {
	if inv == nil {
		return errors.New("dubbopeer: nil invocation")
	}
	id := c.nextID.Add(1)
	frame, err := EncodeRequestFrame(id, inv, false)
	if err != nil {
		return err
	}
	return c.write(ctx, frame)
}

// Heartbeat sends a heartbeat event request and waits for the event
// response with the same id, returning the round-trip time.
func (c *Client) Heartbeat(ctx context.Context) (time.Duration, error) {
	id, ch, err := c.register(true)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.write(ctx, EncodeHeartbeat(id, true)); err != nil {
		c.abandon(id, true, false)
		return 0, err
	}
	timeout := c.defaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl) + time.Millisecond
	}
	f, err := c.await(ctx, id, ch, true, timeout, "dubbopeer: heartbeat")
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	if f.Header.Status != StatusOK {
		return rtt, fmt.Errorf("dubbopeer: heartbeat id=%d answered with status %d", id, f.Header.Status)
	}
	return rtt, nil
}
