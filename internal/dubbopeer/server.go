package dubbopeer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler answers one request. It runs in its own goroutine, so responses
// may leave in a different order than requests arrived. ctx is cancelled
// when the connection or the server closes. A nil response means an OK
// response with a null value.
type Handler func(ctx context.Context, req *ServerRequest) *ServerResponse

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("dubbopeer: server closed")

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithServerLogger sets a logger for connection events and bad frames.
func WithServerLogger(l Logger) ServerOption { return func(s *Server) { s.logger = l } }

// WithOnewayHandler makes the server also pass one-way requests to the
// handler (its response is discarded). By default one-way requests are
// only decoded and counted.
func WithOnewayHandler() ServerOption { return func(s *Server) { s.handleOneway = true } }

// WithOnewayObserver registers a function called (synchronously, in
// arrival order) with every decoded one-way request.
func WithOnewayObserver(fn func(*ServerRequest)) ServerOption {
	return func(s *Server) { s.onOneway = fn }
}

// Server is a Dubbo provider serving any number of connections.
type Server struct {
	handler      Handler
	logger       Logger
	handleOneway bool
	onOneway     func(*ServerRequest)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}

	requests   atomic.Int64
	oneways    atomic.Int64
	heartbeats atomic.Int64
	badFrames  atomic.Int64
}

// NewServer creates a server that answers two-way requests with handler.
func NewServer(handler Handler, opts ...ServerOption) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		handler:   handler,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Requests counts two-way (non-event) requests received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Oneways counts one-way (non-event) requests received.
func (s *Server) Oneways() int64 { return s.oneways.Load() }

// Heartbeats counts heartbeat event requests received.
func (s *Server) Heartbeats() int64 { return s.heartbeats.Load() }

// BadFrames counts requests that could not be decoded.
func (s *Server) BadFrames() int64 { return s.badFrames.Load() }

func (s *Server) logf(format string, args ...interface{}) {
	if s.logger != nil {
		s.logger.Printf(format, args...)
	}
}

// Serve accepts connections on ln until Close; it then returns
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if backoff == 0 {
					backoff = 5 * time.Millisecond
				} else if backoff < time.Second {
					backoff *= 2
				}
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.track(conn) {
			conn.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.wg.Done()
			s.serveConn(conn)
		}()
	}
}

func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	return true
}

// ServeConn serves one established connection (e.g. from net.Pipe) and
// returns when it is closed.
func (s *Server) ServeConn(conn net.Conn) {
	if !s.track(conn) {
		conn.Close()
		return
	}
	defer s.wg.Done()
	s.serveConn(conn)
}

// Close stops listeners, closes connections, cancels handler contexts and
// waits for connection goroutines and handlers to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

type serverConn struct {
	s      *Server
	conn   net.Conn
	ctx    context.Context
	wmu    sync.Mutex
	remote string
}

func (sc *serverConn) write(b []byte) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	_, err := sc.conn.Write(b)
	return err
}

func (s *Server) serveConn(conn net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	var handlers sync.WaitGroup
	defer func() {
		cancel()
		conn.Close()
		handlers.Wait()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	sc := &serverConn{s: s, conn: conn, ctx: ctx}
	if ra := conn.RemoteAddr(); ra != nil {
		sc.remote = ra.String()
	}
	r := newReader(conn)
	for {
		f, err := ReadFrame(r)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				s.logf("dubbopeer server: connection %s: %v", sc.remote, err)
			}
			return
		}
		h := f.Header
		if !h.IsRequest() {
			// Responses (e.g. to heartbeats we never send) are ignored.
			s.logf("dubbopeer server: ignoring response frame id=%d from %s", h.ID, sc.remote)
			continue
		}
		if h.IsEvent() {
			s.heartbeats.Add(1)
			if h.IsTwoWay() {
				if err := sc.write(EncodeHeartbeat(h.ID, false)); err != nil {
					return
				}
			}
			continue
		}
		req, derr := DecodeRequest(f)
		req.RemoteAddr = sc.remote
		if !h.IsTwoWay() {
			s.oneways.Add(1)
			if derr != nil {
				s.badFrames.Add(1)
				s.logf("dubbopeer server: bad oneway request id=%d: %v", h.ID, derr)
				continue
			}
			if s.onOneway != nil {
				s.onOneway(req)
			}
			if s.handleOneway && s.handler != nil {
				handlers.Add(1)
				go func() {
					defer handlers.Done()
					s.invoke(ctx, req)
				}()
			}
			continue
		}
		s.requests.Add(1)
		if derr != nil {
			s.badFrames.Add(1)
			s.logf("dubbopeer server: bad request id=%d: %v", h.ID, derr)
			b, _ := EncodeResponseFrame(h.ID, &ServerResponse{Status: StatusBadRequest,
				ErrorMessage: "Fail to decode request due to: " + derr.Error()}, false)
			if err := sc.write(b); err != nil {
				return
			}
			continue
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			sc.respond(req)
		}()
	}
}

func (s *Server) invoke(ctx context.Context, req *ServerRequest) (resp *ServerResponse) {
	defer func() {
		if p := recover(); p != nil {
			resp = &ServerResponse{Status: StatusServiceError, ErrorMessage: fmt.Sprintf("handler panic: %v", p)}
		}
	}()
	if s.handler == nil {
		return &ServerResponse{Status: StatusServiceNotFound, ErrorMessage: "no handler"}
	}
	return s.handler(ctx, req)
}

func (sc *serverConn) respond(req *ServerRequest) {
	resp := sc.s.invoke(sc.ctx, req)
	if resp == nil {
		resp = &ServerResponse{}
	}
	if resp.Delay > 0 {
		t := time.NewTimer(resp.Delay)
		select {
		case <-t.C:
		case <-sc.ctx.Done():
			t.Stop()
			return
		}
	}
	b, err := EncodeResponseFrame(req.RequestID, resp, false)
	if err != nil {
		sc.s.logf("dubbopeer server: encoding response id=%d: %v", req.RequestID, err)
		b, _ = EncodeResponseFrame(req.RequestID, &ServerResponse{Status: StatusBadResponse,
			ErrorMessage: "Failed to send response, cause: " + err.Error()}, false)
	}
	if err := sc.write(b); err != nil && sc.ctx.Err() == nil {
		sc.s.logf("dubbopeer server: writing response id=%d: %v", req.RequestID, err)
	}
}
