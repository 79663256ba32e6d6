package e2e

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

const (
	greetingService = "org.meshproto.demo.GreetingService"
	orderService    = "org.meshproto.demo.OrderService"
)

// provider is one in-process Dubbo provider (dubbo-go-hessian2 frames)
// that can be stopped and started again on the same port.
type provider struct {
	instance, version, addr string
	mu                      sync.Mutex
	srv                     *dubbopeer.Server
	calls                   atomic.Int64
	flaky                   atomic.Int64
	// maxDelay, when set, holds every answer for a random time up to it,
	// so that answers leave out of order and slowly.
	maxDelay time.Duration
}

// handle answers like examples/dubbo/provider: the value echoes the first
// argument, and response attachments say who served the call and which
// attachments arrived.
func (p *provider) handle(ctx context.Context, req *dubbopeer.ServerRequest) *dubbopeer.ServerResponse {
	p.calls.Add(1)
	att := map[string]string{"instance": p.instance, "served-version": p.version, "method": req.Method}
	for k, v := range req.Attachments {
		att["seen-"+k] = v
	}
	switch req.Method {
	case "sleep":
		if len(req.Args) > 0 {
			if ms, ok := req.Args[0].(int32); ok {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
		}
	case "fail":
		return &dubbopeer.ServerResponse{Exception: "failed on purpose", Attachments: att}
	case "flaky":
		// Every other call is refused as overloaded (status 100, which
		// the codec maps to 503): a retried call always succeeds.
		if p.flaky.Add(1)%2 == 1 {
			return &dubbopeer.ServerResponse{Status: 100, ErrorMessage: "overloaded on purpose"}
		}
	}
	var v interface{}
	if len(req.Args) > 0 {
		v = req.Args[0]
	}
	resp := &dubbopeer.ServerResponse{Value: v, Attachments: att}
	if p.maxDelay > 0 {
		resp.Delay = time.Duration(mrand.Int64N(int64(p.maxDelay)))
	}
	return resp
}

func (p *provider) start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a stop
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, err)
	srv := dubbopeer.NewServer(p.handle)
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// startProvider starts a provider that stops when the test ends.
func startProvider(t testing.TB, instance, version, addr string) *provider {
	t.Helper()
	p := &provider{instance: instance, version: version, addr: addr}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *provider) stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// mesh is the demo topology: consumer sidecar -> provider sidecars v1, v2
// -> providers v1, v2, each MOSN running a config from configs/dubbo.
type mesh struct {
	ports        ports
	consumerAddr string
	v1, v2       *provider
	consumer     *mosnProc
}

func startMesh(t *testing.T) *mesh {
	t.Helper()
	p := newPorts(t, 20880, 20881, 20882, 20890, 20892, 34901, 34902, 34903)
	m := &mesh{
		ports:        p,
		consumerAddr: p.addr(20881),
		v1:           &provider{instance: "provider-v1", version: "1.0.0", addr: p.addr(20880)},
		v2:           &provider{instance: "provider-v2", version: "2.0.0", addr: p.addr(20890)},
	}
	m.v1.start(t)
	m.v2.start(t)
	t.Cleanup(m.v1.stop)
	t.Cleanup(m.v2.stop)
	startMOSN(t, "provider-sidecar-v1", loadConfig(t, "configs/dubbo/provider-sidecar.json", p), p.addr(20882))
	startMOSN(t, "provider-sidecar-v2", loadConfig(t, "configs/dubbo/provider-sidecar-v2.json", p), p.addr(20892))
	m.consumer = startMOSN(t, "consumer-sidecar", loadConfig(t, "configs/dubbo/consumer-sidecar.json", p), m.consumerAddr)
	return m
}

func (m *mesh) dial(t testing.TB) *dubbopeer.Client {
	t.Helper()
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), m.consumerAddr, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, c.Mismatches(), "responses that matched no outstanding call")
		_ = c.Close()
	})
	return c
}

func call(t testing.TB, c *dubbopeer.Client, service, method string, args []interface{}, att map[string]string) *dubbopeer.Result {
	t.Helper()
	res, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{
		Service: service, Method: method, Version: "1.0.0", Args: args, Attachments: att,
	})
	require.NoError(t, err)
	return res
}

func TestDubboThroughMOSN(t *testing.T) {
	t.Parallel()
	m := startMesh(t)
	c := m.dial(t)

	t.Run("route by service, with an attachment added by the route", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			res := call(t, c, orderService, "place", []interface{}{"book"}, nil)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "book", res.Value)
			assert.Equal(t, "provider-v1", res.Attachments["instance"])
			assert.Equal(t, "by-service", res.Attachments["seen-x-mesh-route"], "attachment set by MOSN's route reached the provider")
		}
	})

	t.Run("route by method", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			res := call(t, c, greetingService, "sleep", []interface{}{int32(1)}, nil)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "provider-v1", res.Attachments["instance"])
			assert.Equal(t, "by-method", res.Attachments["seen-x-mesh-route"])
		}
	})

	t.Run("route by attachment to a subset", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			res := call(t, c, greetingService, "greet", []interface{}{"gray user"}, map[string]string{"x-tag": "gray"})
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "provider-v2", res.Attachments["instance"])
			assert.Equal(t, "gray", res.Attachments["seen-x-tag"], "caller attachment forwarded")
			assert.Equal(t, "canary", res.Attachments["seen-x-mesh-route"])
		}
	})

	t.Run("weighted split 80/20 over 2000 calls", func(t *testing.T) {
		const n = 2000
		counts := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 32)
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				arg := fmt.Sprintf("call-%d", i)
				res, err := c.Call(ctxTimeout(t, 10*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0", Args: []interface{}{arg}})
				if err != nil {
					errs <- err
					return
				}
				if res.Status != dubbopeer.StatusOK || res.Value != arg {
					errs <- fmt.Errorf("call %d: status %d value %v message %q", i, res.Status, res.Value, res.ErrorMessage)
					return
				}
				mu.Lock()
				counts[res.Attachments["instance"]]++
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		v1 := float64(counts["provider-v1"]) / n
		v2 := float64(counts["provider-v2"]) / n
		t.Logf("split: v1 %.1f%%, v2 %.1f%%", v1*100, v2*100)
		assert.InDelta(t, 0.80, v1, 0.05)
		assert.InDelta(t, 0.20, v2, 0.05)
	})

	t.Run("application exception passes through intact", func(t *testing.T) {
		res := call(t, c, greetingService, "fail", []interface{}{"x"}, map[string]string{"x-tag": "gray"})
		assert.Equal(t, dubbopeer.StatusOK, res.Status)
		assert.Contains(t, res.Exception, "failed on purpose")
	})

	t.Run("unknown service gets a Dubbo error at once", func(t *testing.T) {
		start := time.Now()
		res := call(t, c, "org.example.Missing", "nope", []interface{}{"x"}, nil)
		elapsed := time.Since(start)
		assert.Equal(t, byte(60), res.Status, "SERVICE_NOT_FOUND")
		assert.Contains(t, res.ErrorMessage, "no route")
		assert.Contains(t, res.ErrorMessage, "org.example.Missing")
		// Far below the client's 5 s: the proxy answered, nothing timed out.
		assert.Less(t, elapsed, 2*time.Second)
	})

	t.Run("unrouted method gets a Dubbo error", func(t *testing.T) {
		res := call(t, c, greetingService, "unknownMethod", nil, nil)
		assert.Equal(t, byte(60), res.Status)
	})

	t.Run("upstream timeout is a Dubbo timeout response", func(t *testing.T) {
		start := time.Now()
		res := call(t, c, greetingService, "sleep", []interface{}{int32(2500)}, nil)
		assert.Equal(t, byte(31), res.Status, "SERVER_TIMEOUT: %s", res.ErrorMessage)
		assert.Less(t, time.Since(start), 3*time.Second, "route timeout is 1s, the client's 5s")
	})

	t.Run("heartbeat answered by the proxy", func(t *testing.T) {
		// The test providers answer heartbeats without the handler, so
		// they are counted where they arrive. The sidecars' own keepalive
		// heartbeats on idle upstream connections may land meanwhile; ten
		// forwarded ones could not hide among those.
		before := m.v1.heartbeats() + m.v2.heartbeats()
		calls := m.v1.calls.Load() + m.v2.calls.Load()
		const n = 10
		for i := 0; i < n; i++ {
			_, err := c.Heartbeat(ctxTimeout(t, 5*time.Second))
			require.NoError(t, err)
		}
		assert.Less(t, m.v1.heartbeats()+m.v2.heartbeats()-before, int64(n), "heartbeats were forwarded to the providers")
		assert.Equal(t, calls, m.v1.calls.Load()+m.v2.calls.Load())
	})

	t.Run("concurrent calls on one connection keep their correlation", func(t *testing.T) {
		var wg sync.WaitGroup
		var bad atomic.Int64
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					arg := fmt.Sprintf("g%d-i%d", g, i)
					res, err := c.Call(ctxTimeout(t, 10*time.Second), &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{arg}})
					if err != nil || res.Value != arg {
						bad.Add(1)
					}
				}
			}(g)
		}
		wg.Wait()
		assert.Zero(t, bad.Load())
	})

	t.Run("provider killed then back", func(t *testing.T) {
		m.v1.stop()
		start := time.Now()
		res := call(t, c, orderService, "place", []interface{}{"x"}, nil)
		assert.NotEqual(t, dubbopeer.StatusOK, res.Status, "a call to a dead provider fails")
		assert.NotEmpty(t, res.ErrorMessage)
		assert.Less(t, time.Since(start), 3*time.Second)
		m.v1.start(t)
		deadline := time.Now().Add(10 * time.Second)
		for {
			res = call(t, c, orderService, "place", []interface{}{"y"}, nil)
			if res.Status == dubbopeer.StatusOK || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		for i := 0; i < 5; i++ {
			res = call(t, c, orderService, "place", []interface{}{"z"}, nil)
			assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		}
	})
}

func (p *provider) heartbeats() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		return 0
	}
	return p.srv.Heartbeats()
}

// TestIdleUpstreamGetsHeartbeats: after a call, the provider sidecar's
// upstream connection goes idle; MOSN's keepalive (15s read timeout) sends
// the codec's heartbeat, which the provider answers, so provider-side idle
// timeouts never close connections the mesh still uses.
func TestIdleUpstreamGetsHeartbeats(t *testing.T) {
	t.Parallel()
	p := newPorts(t, 20880, 20882, 34902)
	prov := &provider{instance: "provider-v1", version: "1.0.0", addr: p.addr(20880)}
	prov.start(t)
	t.Cleanup(prov.stop)
	startMOSN(t, "provider-sidecar", loadConfig(t, "configs/dubbo/provider-sidecar.json", p), p.addr(20882))
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20882))
	require.NoError(t, err)
	defer c.Close()
	res := call(t, c, orderService, "place", []interface{}{"x"}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)

	deadline := time.Now().Add(40 * time.Second)
	for prov.heartbeats() == 0 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	assert.Positive(t, prov.heartbeats(), "the proxy sent no heartbeat on the idle upstream connection")
	// The connection is still good for calls afterwards.
	res = call(t, c, orderService, "place", []interface{}{"y"}, nil)
	assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
}
