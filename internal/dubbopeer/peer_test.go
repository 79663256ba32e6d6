package dubbopeer

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, args ...interface{}) {
	l.t.Helper()
	l.t.Logf(format, args...)
}

// startLoopback serves h on a loopback listener and dials a client to it.
func startLoopback(t *testing.T, h Handler, opts ...ServerOption) (*Server, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewServer(h, append([]ServerOption{WithServerLogger(testLogger{t})}, opts...)...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, ln.Addr().String(), WithLogger(testLogger{t}))
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, c.Close())
		assert.NoError(t, srv.Close())
		assert.ErrorIs(t, <-served, ErrServerClosed)
	})
	return srv, c
}

// startPipe serves h over net.Pipe.
func startPipe(t *testing.T, h Handler, opts ...ServerOption) (*Server, *Client) {
	t.Helper()
	a, b := net.Pipe()
	srv := NewServer(h, append([]ServerOption{WithServerLogger(testLogger{t})}, opts...)...)
	done := make(chan struct{})
	go func() { srv.ServeConn(b); close(done) }()
	c := NewClient(a, WithLogger(testLogger{t}))
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		<-done
	})
	return srv, c
}

func echoHandler(ctx context.Context, req *ServerRequest) *ServerResponse {
	return &ServerResponse{Value: map[string]interface{}{
		"method": req.Method,
		"arg":    req.Args[0],
		"id":     int64(req.RequestID),
	}}
}

func TestConcurrentCallsCorrelated(t *testing.T) {
	for name, start := range map[string]func(*testing.T, Handler, ...ServerOption) (*Server, *Client){
		"loopback": startLoopback, "pipe": startPipe,
	} {
		t.Run(name, func(t *testing.T) {
			var maxInFlight, inFlight atomic.Int64
			h := func(ctx context.Context, req *ServerRequest) *ServerResponse {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				arg := req.Args[0].(string)
				// Out-of-order completion: random delays up to 3 ms, half
				// spent in the handler, half via ServerResponse.Delay.
				d := time.Duration(rand.Intn(3000)) * time.Microsecond
				time.Sleep(d / 2)
				return &ServerResponse{
					Value:       "reply:" + arg,
					Attachments: map[string]string{"echo": req.Attachments["payload"]},
					Delay:       d / 2,
				}
			}
			srv, c := start(t, h)
			const goroutines, perG = 16, 1000 / 16
			total := goroutines * perG
			var wg sync.WaitGroup
			errs := make(chan error, total)
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < perG; i++ {
						p := fmt.Sprintf("g%d-i%d-%s", g, i, strings.Repeat("x", (g*i)%200))
						res, err := c.Call(context.Background(), &Invocation{
							Service: "org.test.Echo", Method: "echo", Version: "1.0.0",
							Args: []interface{}{p}, Attachments: map[string]string{"payload": p},
							Timeout: 10 * time.Second,
						})
						if err != nil {
							errs <- err
							continue
						}
						if res.Value != "reply:"+p || res.Attachments["echo"] != p || res.Status != StatusOK {
							errs <- fmt.Errorf("call %s got value=%v att=%v status=%d", p, res.Value, res.Attachments, res.Status)
						}
					}
				}(g)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			assert.EqualValues(t, total, srv.Requests())
			assert.Zero(t, c.Mismatches())
			assert.Zero(t, c.LateResponses())
			assert.Greater(t, maxInFlight.Load(), int64(1), "requests should be multiplexed")
			t.Logf("max handlers in flight: %d", maxInFlight.Load())
		})
	}
}

func TestAttachmentsBothWays(t *testing.T) {
	gotc := make(chan *ServerRequest, 1)
	_, c := startLoopback(t, func(ctx context.Context, req *ServerRequest) *ServerResponse {
		gotc <- req
		return &ServerResponse{Value: int32(7), Attachments: map[string]string{"traceid": req.Attachments["traceid"], "server": "s1"}}
	})
	res, err := c.Call(context.Background(), &Invocation{
		Service: "org.test.Svc", Method: "m", Version: "2.0.0", Group: "blue",
		Args:        []interface{}{"a", int32(1), int64(2)},
		Attachments: map[string]string{"traceid": "abc123", "x-user": "u"},
		Timeout:     1500 * time.Millisecond,
	})
	require.NoError(t, err)
	got := <-gotc
	assert.Equal(t, DubboVersion, got.DubboVersion)
	assert.Equal(t, "org.test.Svc", got.Service)
	assert.Equal(t, "2.0.0", got.Version)
	assert.Equal(t, "m", got.Method)
	assert.Equal(t, "Ljava/lang/String;IJ", got.ParamTypes)
	assert.Equal(t, []interface{}{"a", int32(1), int64(2)}, got.Args)
	assert.True(t, got.TwoWay)
	assert.Equal(t, map[string]string{
		"path": "org.test.Svc", "interface": "org.test.Svc", "version": "2.0.0", "group": "blue",
		"timeout": "1500", "traceid": "abc123", "x-user": "u",
	}, got.Attachments)
	assert.Equal(t, "blue", got.Group())
	assert.Equal(t, byte(0xc2), got.Header[2])

	assert.Equal(t, StatusOK, res.Status)
	assert.Equal(t, int32(7), res.Value)
	assert.Equal(t, ResponseValueWithAttachments, res.ResponseType)
	assert.Equal(t, map[string]string{"traceid": "abc123", "server": "s1", "dubbo": "2.0.2"}, res.Attachments)
	assert.True(t, res.OK())
}

func TestResponseTypes(t *testing.T) {
	_, c := startPipe(t, func(ctx context.Context, req *ServerRequest) *ServerResponse {
		switch req.Method {
		case "null":
			return &ServerResponse{}
		case "nullAtt":
			return &ServerResponse{Attachments: map[string]string{"k": "v"}}
		case "value":
			return &ServerResponse{Value: []interface{}{"a", int64(1)}}
		case "exc":
			return &ServerResponse{Exception: "boom: " + req.Args[0].(string)}
		case "excAtt":
			return &ServerResponse{Exception: "bad arg", ExceptionClass: "java.lang.IllegalArgumentException",
				Attachments: map[string]string{"k": "v"}}
		case "status":
			return &ServerResponse{Status: StatusServiceError, ErrorMessage: "service failed: " + req.Args[0].(string)}
		}
		return nil
	})
	call := func(method string) *Result {
		res, err := c.Call(context.Background(), &Invocation{Service: "S", Method: method, Args: []interface{}{"x"}})
		require.NoError(t, err, method)
		return res
	}
	r := call("null")
	assert.Equal(t, ResponseNullValue, r.ResponseType)
	assert.Nil(t, r.Value)
	assert.Nil(t, r.Attachments)
	assert.True(t, r.OK())

	r = call("nullAtt")
	assert.Equal(t, ResponseNullValueWithAttachments, r.ResponseType)
	assert.Equal(t, "v", r.Attachments["k"])

	r = call("value")
	assert.Equal(t, ResponseValue, r.ResponseType)
	assert.Equal(t, []interface{}{"a", int64(1)}, r.Value)

	r = call("exc")
	assert.Equal(t, StatusOK, r.Status)
	assert.Equal(t, ResponseWithException, r.ResponseType)
	assert.Equal(t, "boom: x", r.Exception)
	assert.Equal(t, "java.lang.RuntimeException", r.ExceptionClass)
	assert.False(t, r.OK())

	r = call("excAtt")
	assert.Equal(t, ResponseWithExceptionWithAttachments, r.ResponseType)
	assert.Equal(t, "bad arg", r.Exception)
	assert.Equal(t, "java.lang.IllegalArgumentException", r.ExceptionClass)
	assert.Equal(t, "v", r.Attachments["k"])

	r = call("status")
	assert.Equal(t, StatusServiceError, r.Status)
	assert.Equal(t, "service failed: x", r.ErrorMessage)
	assert.Equal(t, int32(-1), r.ResponseType)
	assert.False(t, r.OK())

	r = call("nil-handler-response")
	assert.Equal(t, ResponseNullValue, r.ResponseType)
}

func TestOnewayCounted(t *testing.T) {
	seen := make(chan *ServerRequest, 10)
	handled := atomic.Int64{}
	srv, c := startLoopback(t, func(ctx context.Context, req *ServerRequest) *ServerResponse {
		handled.Add(1)
		return &ServerResponse{Value: "ok"}
	}, WithOnewayObserver(func(r *ServerRequest) { seen <- r }))
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Oneway(context.Background(), &Invocation{Service: "S", Method: "fire", Args: []interface{}{i}}))
	}
	// A two-way call afterwards proves ordering: once answered, the
	// preceding oneways on the same connection have been read.
	_, err := c.Call(context.Background(), &Invocation{Service: "S", Method: "sync"})
	require.NoError(t, err)
	assert.EqualValues(t, 3, srv.Oneways())
	assert.EqualValues(t, 1, srv.Requests())
	assert.EqualValues(t, 1, handled.Load(), "oneways are not passed to the handler by default")
	for i := 0; i < 3; i++ {
		r := <-seen
		assert.False(t, r.TwoWay)
		assert.Equal(t, "fire", r.Method)
		assert.Equal(t, []interface{}{int64(i)}, r.Args)
		assert.Equal(t, byte(0x82), r.Header[2])
	}
	assert.Zero(t, c.Mismatches())
}

func TestHeartbeatRoundTrip(t *testing.T) {
	srv, c := startLoopback(t, echoHandler)
	for i := 0; i < 3; i++ {
		rtt, err := c.Heartbeat(context.Background())
		require.NoError(t, err)
		assert.Greater(t, rtt, time.Duration(0))
	}
	assert.EqualValues(t, 3, srv.Heartbeats())
	assert.Zero(t, srv.Requests())
	assert.Zero(t, c.Mismatches())
}

// rawServer accepts one connection and lets the test script raw frames.
func rawServer(t *testing.T) (net.Conn, *Client) {
	a, b := net.Pipe()
	c := NewClient(a, WithLogger(testLogger{t}), WithDefaultTimeout(2*time.Second))
	t.Cleanup(func() { c.Close(); b.Close() })
	return b, c
}

func TestBogusResponseIDCountedAsMismatch(t *testing.T) {
	srv, c := rawServer(t)
	done := make(chan *Result, 1)
	go func() {
		res, err := c.Call(context.Background(), &Invocation{Service: "S", Method: "m", Args: []interface{}{"hi"}})
		assert.NoError(t, err)
		done <- res
	}()
	f, err := ReadFrame(srv)
	require.NoError(t, err)
	req, err := DecodeRequest(f)
	require.NoError(t, err)

	// Wrong id: must not complete the call, must be counted.
	b, err := EncodeResponseFrame(req.RequestID+1000, &ServerResponse{Value: "wrong"}, false)
	require.NoError(t, err)
	_, err = srv.Write(b)
	require.NoError(t, err)
	// Heartbeat response whose id matches the pending call (not a heartbeat).
	_, err = srv.Write(EncodeHeartbeat(req.RequestID, false))
	require.NoError(t, err)
	// Correct answer.
	b, err = EncodeResponseFrame(req.RequestID, &ServerResponse{Value: "right"}, false)
	require.NoError(t, err)
	_, err = srv.Write(b)
	require.NoError(t, err)

	res := <-done
	assert.Equal(t, "right", res.Value)
	assert.EqualValues(t, 2, c.Mismatches())
	assert.Equal(t, req.RequestID, res.RequestID)
}

func TestCallTimeoutAndLateResponse(t *testing.T) {
	srv, c := rawServer(t)
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c.Call(context.Background(), &Invocation{Service: "S", Method: "slow", Timeout: 100 * time.Millisecond})
		errc <- err
	}()
	f, err := ReadFrame(srv)
	require.NoError(t, err)
	req, err := DecodeRequest(f)
	require.NoError(t, err)
	assert.Equal(t, "100", req.Attachments["timeout"])
	err = <-errc
	require.ErrorIs(t, err, ErrTimeout)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)

	// A late answer is not a mismatch; the client keeps working.
	b, _ := EncodeResponseFrame(req.RequestID, &ServerResponse{Value: "late"}, false)
	_, err = srv.Write(b)
	require.NoError(t, err)

	// ctx cancellation is reported as well.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go func() {
		_, err := c.Call(ctx, &Invocation{Service: "S", Method: "slow2"})
		errc <- err
	}()
	_, err = ReadFrame(srv)
	require.NoError(t, err)
	require.ErrorIs(t, <-errc, ErrTimeout)

	require.Eventually(t, func() bool { return c.LateResponses() == 1 }, time.Second, time.Millisecond)
	assert.Zero(t, c.Mismatches())
}

func TestServerHeartbeatToClient(t *testing.T) {
	srv, c := rawServer(t)
	_, err := srv.Write(EncodeHeartbeat(77, true))
	require.NoError(t, err)
	f, err := ReadFrame(srv)
	require.NoError(t, err)
	assert.Equal(t, uint64(77), f.Header.ID)
	assert.Equal(t, byte(0x22), f.Header.Flag)
	assert.Equal(t, StatusOK, f.Header.Status)
	assert.Equal(t, []byte{'N'}, f.Body)
	assert.EqualValues(t, 1, c.HeartbeatsAnswered())
}

func TestCloseFailsPendingCalls(t *testing.T) {
	srv, c := rawServer(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), &Invocation{Service: "S", Method: "m"})
		errc <- err
	}()
	_, err := ReadFrame(srv)
	require.NoError(t, err)
	srv.Close()
	err = <-errc
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrTimeout)
	<-c.Done()
	_, err = c.Call(context.Background(), &Invocation{Service: "S", Method: "m"})
	require.Error(t, err)
}

func TestServerRejectsUndecodableRequest(t *testing.T) {
	a, b := net.Pipe()
	srv := NewServer(echoHandler, WithServerLogger(testLogger{t}))
	go srv.ServeConn(b)
	defer srv.Close()
	defer a.Close()
	// Valid header, body that is not a hessian string sequence.
	h := Header{Flag: FlagRequest | FlagTwoWay | SerializationHessian2, ID: 9, BodyLength: 3}.Bytes()
	go func() { _, _ = a.Write(append(h[:], 0xff, 0xff, 0xff)) }()
	f, err := ReadFrame(a)
	require.NoError(t, err)
	res, err := DecodeResponse(f)
	require.NoError(t, err)
	assert.Equal(t, StatusBadRequest, res.Status)
	assert.Equal(t, uint64(9), res.RequestID)
	assert.Contains(t, res.ErrorMessage, "Fail to decode request")
	assert.EqualValues(t, 1, srv.BadFrames())
}

func TestResponsesOutOfOrder(t *testing.T) {
	_, c := startLoopback(t, func(ctx context.Context, req *ServerRequest) *ServerResponse {
		if req.Method == "slow" {
			return &ServerResponse{Value: "slow", Delay: 300 * time.Millisecond}
		}
		return &ServerResponse{Value: "fast"}
	})
	order := make(chan string, 2)
	var wg sync.WaitGroup
	for _, m := range []string{"slow", "fast"} {
		wg.Add(1)
		go func(m string) {
			defer wg.Done()
			res, err := c.Call(context.Background(), &Invocation{Service: "S", Method: m})
			if assert.NoError(t, err) {
				assert.Equal(t, m, res.Value)
				order <- m
			}
		}(m)
		if m == "slow" {
			time.Sleep(20 * time.Millisecond) // make sure "slow" is sent first
		}
	}
	wg.Wait()
	close(order)
	var got []string
	for m := range order {
		got = append(got, m)
	}
	assert.Equal(t, []string{"fast", "slow"}, got)
}

func TestMalformedBodiesDoNotPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		body := make([]byte, rng.Intn(40))
		rng.Read(body)
		for _, flag := range []byte{0xc2, 0x02} {
			f := &Frame{Header: Header{Flag: flag, Status: StatusOK, ID: 1, BodyLength: uint32(len(body))}, Body: body}
			if flag&FlagRequest != 0 {
				req, _ := DecodeRequest(f)
				require.NotNil(t, req)
			} else {
				res, _ := DecodeResponse(f)
				require.NotNil(t, res)
			}
		}
	}
}
