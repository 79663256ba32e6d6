package e2e

// Fault tests: what a Dubbo client receives through the shipped sidecar
// configs when the provider, the connection or MOSN itself misbehaves.
//
// Most tests run only the consumer sidecar (configs/dubbo/consumer-sidecar.json)
// with its upstream ports (20882 for greeting-v1 and 20892 for greeting-v2)
// remapped to in-process providers or raw TCP "providers" written here; the
// provider-kill, reset and restart tests run the whole demo mesh
// (startMesh).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// rawBackend is a TCP "provider" whose connections are served by a
// function given by the test (no dubbopeer.Server behind it).
type rawBackend struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
	requests atomic.Int64 // non-event request frames read
}

func startRawBackend(t testing.TB, addr string, serve func(b *rawBackend, conn net.Conn)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	b := &rawBackend{ln: ln, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[conn] = struct{}{}
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer conn.Close()
				serve(b, conn)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// serveSilent reads every frame and never writes a byte.
func serveSilent(b *rawBackend, conn net.Conn) {
	for {
		f, err := dubbopeer.ReadFrame(conn)
		if err != nil {
			_, _ = io.Copy(io.Discard, conn)
			return
		}
		if f.Header.IsRequest() && !f.Header.IsEvent() {
			b.requests.Add(1)
		}
	}
}

// serveWrongID answers heartbeats correctly and every request with an OK
// response carrying request id + 1000 (a stream MOSN does not have).
func serveWrongID(b *rawBackend, conn net.Conn) {
	for {
		f, err := dubbopeer.ReadFrame(conn)
		if err != nil {
			return
		}
		h := f.Header
		if !h.IsRequest() {
			continue
		}
		if h.IsEvent() {
			if _, err := conn.Write(dubbopeer.EncodeHeartbeat(h.ID, false)); err != nil {
				return
			}
			continue
		}
		b.requests.Add(1)
		out, err := dubbopeer.EncodeResponseFrame(h.ID+1000, &dubbopeer.ServerResponse{
			Value: "answer for another call", Attachments: map[string]string{"instance": "liar"},
		}, false)
		if err != nil {
			return
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// consumerOnly is the consumer sidecar alone; the test puts its own
// backends on ports.addr(20882) (cluster greeting-v1, subset 1.0.0) and
// ports.addr(20892) (greeting-v2, subset 2.0.0).
type consumerOnly struct {
	ports ports
	addr  string
	proc  *mosnProc
}

// startConsumerOnly starts the shipped consumer sidecar config; mutate, when
// not nil, edits the parsed JSON first (the shipped file is not touched).
func startConsumerOnly(t *testing.T, p ports, mutate func(cfg map[string]interface{})) *consumerOnly {
	t.Helper()
	cfg := loadConfig(t, "configs/dubbo/consumer-sidecar.json", p)
	if mutate != nil {
		var m map[string]interface{}
		d := json.NewDecoder(bytes.NewReader(cfg))
		d.UseNumber()
		require.NoError(t, d.Decode(&m))
		mutate(m)
		var err error
		cfg, err = json.MarshalIndent(m, "", "  ")
		require.NoError(t, err)
	}
	c := &consumerOnly{ports: p, addr: p.addr(20881)}
	c.proc = startMOSN(t, "consumer-sidecar", cfg, c.addr)
	return c
}

func faultPorts(t testing.TB) ports { return newPorts(t, 20881, 20882, 20892, 34901) }

func dialAddr(t testing.TB, addr string, opts ...dubbopeer.ClientOption) *dubbopeer.Client {
	t.Helper()
	opts = append([]dubbopeer.ClientOption{dubbopeer.WithDefaultTimeout(5 * time.Second)}, opts...)
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, c.Mismatches(), "responses that matched no outstanding call")
		_ = c.Close()
	})
	return c
}

// healthyLoop calls the canary (x-tag gray -> greeting subset 2.0.0, i.e.
// port 20892) on its own connection until stop is closed and returns the
// number of calls and of wrong answers.
func healthyLoop(t *testing.T, c *dubbopeer.Client, stop <-chan struct{}) (calls, bad *atomic.Int64, done <-chan struct{}) {
	calls, bad = &atomic.Int64{}, &atomic.Int64{}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			arg := fmt.Sprintf("healthy-%d", i)
			res, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0",
				Args: []interface{}{arg}, Attachments: map[string]string{"x-tag": "gray"}})
			calls.Add(1)
			if err != nil || res.Status != dubbopeer.StatusOK || res.Value != arg {
				bad.Add(1)
				t.Logf("healthy call %d: err %v res %+v", i, err, res)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return calls, bad, ch
}

// 1. The provider answers every request with request id + 1000.
func TestFaultProviderWrongRequestID(t *testing.T) {
	t.Parallel()
	p := faultPorts(t)
	liar := startRawBackend(t, p.addr(20882), serveWrongID)
	v2 := &provider{instance: "provider-v2", version: "2.0.0", addr: p.addr(20892)}
	v2.start(t)
	t.Cleanup(v2.stop)
	side := startConsumerOnly(t, p, nil)

	healthy := dialAddr(t, side.addr)
	stop := make(chan struct{})
	calls, bad, done := healthyLoop(t, healthy, stop)

	victim := dialAddr(t, side.addr)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := time.Now()
			// "sleep" routes to greeting-v1 (the liar) with a 1s route timeout.
			res, err := victim.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "sleep", Version: "1.0.0", Args: []interface{}{int32(i)}})
			elapsed := time.Since(start)
			if !assert.NoError(t, err, "call %d: the proxy must answer", i) {
				return
			}
			t.Logf("call %d to the liar: status %d after %v: %q", i, res.Status, elapsed.Round(time.Millisecond), res.ErrorMessage)
			assert.Equal(t, dubbopeer.StatusServerTimeout, res.Status, "call %d", i)
			assert.NotEqual(t, "answer for another call", res.Value)
			assert.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "call %d answered before the route timeout", i)
			assert.Less(t, elapsed, 2*time.Second, "call %d: route timeout is 1s", i)
		}(i)
	}
	wg.Wait()
	close(stop)
	<-done
	assert.EqualValues(t, 5, liar.requests.Load(), "every call reached the liar")
	assert.Positive(t, calls.Load())
	assert.Zero(t, bad.Load(), "the healthy client saw wrong answers or errors")
	assert.Zero(t, victim.Mismatches())
	assert.Zero(t, healthy.Mismatches())
}

// 2. The provider accepts and reads but never answers.
func TestFaultProviderSilent(t *testing.T) {
	t.Parallel()
	p := faultPorts(t)
	silent := startRawBackend(t, p.addr(20882), serveSilent)
	healthyProv := &provider{instance: "provider-healthy", version: "1.0.0", addr: p.addr(20892)}
	healthyProv.start(t)
	t.Cleanup(healthyProv.stop)
	// OrderService goes to a new cluster with both hosts, and retries.
	side := startConsumerOnly(t, p, func(cfg map[string]interface{}) {
		cm := cfg["cluster_manager"].(map[string]interface{})
		cm["clusters"] = append(cm["clusters"].([]interface{}), map[string]interface{}{
			"name": "silent-and-healthy", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN",
			"max_request_per_conn": 1024, "conn_buffer_limit_bytes": 32768,
			"hosts": []interface{}{
				map[string]interface{}{"address": p.addr(20882)},
				map[string]interface{}{"address": p.addr(20892)},
			},
		})
		srv := cfg["servers"].([]interface{})[0].(map[string]interface{})
		router := srv["routers"].([]interface{})[0].(map[string]interface{})
		found := false
		for _, vh := range router["virtual_hosts"].([]interface{}) {
			vh := vh.(map[string]interface{})
			if vh["name"] != "order" {
				continue
			}
			found = true
			vh["routers"] = []interface{}{map[string]interface{}{
				"route": map[string]interface{}{
					"cluster_name": "silent-and-healthy",
					"timeout":      "3s",
					"retry_policy": map[string]interface{}{"retry_on": true, "num_retries": 1, "retry_timeout": "300ms"},
				},
			}}
		}
		require.True(t, found, "virtual host order in the shipped config")
	})
	c := dialAddr(t, side.addr)

	t.Run("timeout at the route timeout", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			start := time.Now()
			res := call(t, c, greetingService, "sleep", []interface{}{int32(1)}, nil)
			elapsed := time.Since(start)
			t.Logf("silent provider: status %d after %v: %q", res.Status, elapsed.Round(time.Millisecond), res.ErrorMessage)
			assert.Equal(t, dubbopeer.StatusServerTimeout, res.Status)
			assert.GreaterOrEqual(t, elapsed, 900*time.Millisecond)
			assert.Less(t, elapsed, 3*time.Second, "route timeout is 1s, the client's 5s")
		}
	})

	t.Run("retry on per-try timeout reaches the healthy host", func(t *testing.T) {
		before := silent.requests.Load()
		slow := 0
		for i := 0; i < 6; i++ {
			arg := fmt.Sprintf("retry-%d", i)
			start := time.Now()
			res := call(t, c, orderService, "place", []interface{}{arg}, nil)
			elapsed := time.Since(start)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, arg, res.Value)
			assert.Equal(t, "provider-healthy", res.Attachments["instance"])
			assert.Less(t, elapsed, 3*time.Second, "per-try timeout 300ms, the client's 5s")
			if elapsed >= 280*time.Millisecond {
				slow++
				t.Logf("call %d retried: %v", i, elapsed.Round(time.Millisecond))
			}
		}
		tried := silent.requests.Load() - before
		t.Logf("6 calls: %d slow (>= the 300ms per-try timeout), %d requests reached the silent host", slow, tried)
		// MOSN's retry asks the round-robin balancer again without excluding
		// the host that timed out, so a retry can land on the silent host
		// once more; each try there costs the per-try timeout.
		assert.Positive(t, slow, "round robin never picked the silent host")
		assert.GreaterOrEqual(t, int(tried), slow, "a slow call that never tried the silent host")
	})
}

// 3. The provider is killed while 20 calls are in flight.
func TestFaultProviderKilledMidCall(t *testing.T) {
	t.Parallel()
	m := startMesh(t)
	c := m.dial(t)
	res := call(t, c, greetingService, "sleep", []interface{}{int32(1)}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)

	const n = 20
	before := m.v1.calls.Load()
	type outcome struct {
		res  *dubbopeer.Result
		err  error
		when time.Time
	}
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "sleep", Version: "1.0.0", Args: []interface{}{int32(500)}})
			outs[i] = outcome{r, err, time.Now()}
		}(i)
	}
	deadline := time.Now().Add(3 * time.Second)
	for m.v1.calls.Load()-before < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.EqualValues(t, n, m.v1.calls.Load()-before, "all calls in flight at the provider")
	killed := time.Now()
	go m.v1.stop() // Close waits for the sleeping handlers; the connections close at once
	wg.Wait()
	statuses := map[byte]int{}
	var latest time.Duration
	for i, o := range outs {
		if !assert.NoError(t, o.err, "call %d: a Dubbo error response, not a transport error", i) {
			continue
		}
		statuses[o.res.Status]++
		if d := o.when.Sub(killed); d > latest {
			latest = d
		}
		assert.NotEqual(t, dubbopeer.StatusOK, o.res.Status, "call %d succeeded on a killed provider", i)
		assert.Less(t, o.when.Sub(killed), 2*time.Second, "call %d", i)
		if i == 0 {
			t.Logf("first call: status %d %q", o.res.Status, o.res.ErrorMessage)
		}
	}
	t.Logf("calls in flight at the kill: statuses %v, last answer %v after the kill", statuses, latest.Round(time.Millisecond))

	// Wait for stop to finish before restarting on the same port.
	stopDeadline := time.Now().Add(3 * time.Second)
	for {
		m.v1.mu.Lock()
		gone := m.v1.srv == nil
		m.v1.mu.Unlock()
		if gone || time.Now().After(stopDeadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond) // the handlers' sleeps end; Close returns
	m.v1.start(t)
	okDeadline := time.Now().Add(10 * time.Second)
	for {
		res = call(t, c, greetingService, "sleep", []interface{}{int32(1)}, nil)
		if res.Status == dubbopeer.StatusOK || time.Now().After(okDeadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	for i := 0; i < 5; i++ {
		res = call(t, c, greetingService, "sleep", []interface{}{int32(1)}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	}
}

// 4. The provider's connections are reset twice while 8 clients call.
func TestFaultUpstreamResetUnderLoad(t *testing.T) {
	t.Parallel()
	m := startMesh(t)
	var clients []*dubbopeer.Client
	for i := 0; i < 8; i++ {
		clients = append(clients, dialAddr(t, m.consumerAddr, dubbopeer.WithDefaultTimeout(8*time.Second)))
	}
	var stop atomic.Bool
	var ok, dubboErr, cleanErr, wrong, hung, maxNanos atomic.Int64
	statuses := sync.Map{}
	var wg sync.WaitGroup
	for g, c := range clients {
		wg.Add(1)
		go func(g int, c *dubbopeer.Client) {
			defer wg.Done()
			for i := 0; i < 100000 && !stop.Load(); i++ {
				arg := fmt.Sprintf("g%d-%d", g, i)
				start := time.Now()
				res, err := c.Call(ctxTimeout(t, 8*time.Second), &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{arg}})
				took := time.Since(start)
				for cur := maxNanos.Load(); int64(took) > cur && !maxNanos.CompareAndSwap(cur, int64(took)); cur = maxNanos.Load() {
				}
				if took > 5*time.Second || errors.Is(err, dubbopeer.ErrTimeout) {
					hung.Add(1)
					continue
				}
				switch {
				case err != nil:
					cleanErr.Add(1)
					t.Logf("client %d: %v", g, err)
					return // the connection is gone; stop this client
				case res.Status == dubbopeer.StatusOK:
					if res.Value != arg {
						wrong.Add(1)
						t.Errorf("client %d: sent %q, got %v", g, arg, res.Value)
					} else {
						ok.Add(1)
					}
				default:
					dubboErr.Add(1)
					v, _ := statuses.LoadOrStore(res.Status, &atomic.Int64{})
					v.(*atomic.Int64).Add(1)
				}
			}
		}(g, c)
	}
	for cycle := 0; cycle < 2; cycle++ {
		time.Sleep(500 * time.Millisecond)
		m.v1.stop()
		time.Sleep(200 * time.Millisecond)
		m.v1.start(t)
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	byStatus := map[byte]int64{}
	statuses.Range(func(k, v interface{}) bool { byStatus[k.(byte)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("ok %d, Dubbo errors %d %v, transport errors %d, wrong %d, hung %d, slowest call %v", ok.Load(), dubboErr.Load(), byStatus,
		cleanErr.Load(), wrong.Load(), hung.Load(), time.Duration(maxNanos.Load()).Round(time.Millisecond))
	assert.Zero(t, wrong.Load(), "answers for another call")
	assert.Zero(t, hung.Load(), "calls with no answer within 5s")
	assert.Positive(t, ok.Load())
	for _, c := range clients {
		assert.Zero(t, c.Mismatches())
	}

	// Calls succeed again afterwards, on a new connection too.
	fresh := m.dial(t)
	deadline := time.Now().Add(10 * time.Second)
	var res *dubbopeer.Result
	for {
		res = call(t, fresh, orderService, "place", []interface{}{"after"}, nil)
		if res.Status == dubbopeer.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	for i := 0; i < 10; i++ {
		arg := fmt.Sprintf("after-%d", i)
		res = call(t, fresh, orderService, "place", []interface{}{arg}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, arg, res.Value)
	}
}

// 5. The consumer-side MOSN is killed and started again on the same ports.
func TestFaultMOSNRestart(t *testing.T) {
	t.Parallel()
	m := startMesh(t)
	old := m.dial(t)
	res := call(t, old, orderService, "place", []interface{}{"before"}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)

	// A call in flight when MOSN dies.
	inflight := make(chan error, 1)
	go func() {
		_, err := old.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "sleep", Version: "1.0.0", Args: []interface{}{int32(500)}})
		inflight <- err
	}()
	time.Sleep(100 * time.Millisecond)
	killed := time.Now()
	m.consumer.stop()
	select {
	case err := <-inflight:
		t.Logf("in-flight call after the kill (%v): %v", time.Since(killed).Round(time.Millisecond), err)
		assert.Error(t, err)
		assert.NotErrorIs(t, err, dubbopeer.ErrTimeout)
	case <-time.After(2 * time.Second):
		t.Fatal("in-flight call hangs after MOSN was killed")
	}
	start := time.Now()
	_, err := old.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{"x"}})
	assert.Error(t, err, "a call on the old connection")
	assert.Less(t, time.Since(start), 3*time.Second, "failed at once, not after the client's 5s")
	t.Logf("new call on the old client: %v", err)

	// A client that keeps reconnecting while MOSN comes back.
	reconnected := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		attempts := 0
		for time.Now().Before(deadline) {
			attempts++
			c, err := dubbopeer.Dial(context.Background(), m.consumerAddr, dubbopeer.WithDefaultTimeout(3*time.Second))
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			r, err := c.Call(context.Background(), &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{"again"}})
			mism := c.Mismatches()
			_ = c.Close()
			if err == nil && r.Status == dubbopeer.StatusOK && r.Value == "again" && mism == 0 {
				t.Logf("reconnected after %d attempts", attempts)
				reconnected <- nil
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		reconnected <- errors.New("no successful call through the restarted MOSN")
	}()
	time.Sleep(300 * time.Millisecond)
	restarted := time.Now()
	m.consumer = startMOSN(t, "consumer-sidecar-restarted", loadConfig(t, "configs/dubbo/consumer-sidecar.json", m.ports), m.consumerAddr)
	t.Logf("MOSN listening again %v after the start", time.Since(restarted).Round(time.Millisecond))
	select {
	case err := <-reconnected:
		require.NoError(t, err)
	case <-time.After(25 * time.Second):
		t.Fatal("reconnecting client hangs")
	}
	fresh := m.dial(t)
	for i := 0; i < 5; i++ {
		arg := fmt.Sprintf("fresh-%d", i)
		res := call(t, fresh, orderService, "place", []interface{}{arg}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, arg, res.Value)
	}
	_, err = old.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{"x"}})
	assert.Error(t, err, "the old connection stays dead")
}

// nestedRequest is a two-way OrderService#place request (routed to
// greeting-v1 only) whose argument
// (inArg) or attachment "deep" is nested depth levels deep: a hessian list
// 'W' ... 'Z' for the argument, an untyped map 'H' "k" ... 'Z' for the
// attachment.
func nestedRequest(t *testing.T, id uint64, depth int, inArg bool) []byte {
	t.Helper()
	e := hessian.NewEncoder()
	types := "Ljava/lang/String;"
	if inArg {
		types = "Ljava/lang/Object;"
	}
	for _, s := range []string{dubbopeer.DubboVersion, orderService, "1.0.0", "place", types} {
		require.NoError(t, e.Encode(s))
	}
	if inArg {
		e.Append(bytes.Repeat([]byte{'W'}, depth))
		e.Append(bytes.Repeat([]byte{'Z'}, depth))
	} else {
		require.NoError(t, e.Encode("x"))
	}
	e.Append([]byte{'H'})
	for _, kv := range [][2]string{{"interface", orderService}, {"path", orderService}, {"version", "1.0.0"}} {
		require.NoError(t, e.Encode(kv[0]))
		require.NoError(t, e.Encode(kv[1]))
	}
	if !inArg {
		require.NoError(t, e.Encode("deep"))
		e.Append(bytes.Repeat([]byte{'H', 0x01, 'k'}, depth))
		e.Append([]byte{'N'})
		e.Append(bytes.Repeat([]byte{'Z'}, depth))
	}
	e.Append([]byte{'Z'})
	body := e.Buffer()
	h := dubbopeer.Header{Flag: dubbopeer.FlagRequest | dubbopeer.FlagTwoWay | dubbopeer.SerializationHessian2, ID: id, BodyLength: uint32(len(body))}.Bytes()
	return append(h[:], body...)
}

// 6. Arguments and attachments nested 10,000 deep.
func TestFaultDeeplyNested(t *testing.T) {
	t.Parallel()
	p := faultPorts(t)
	v1 := startProvider(t, "provider-v1", "1.0.0", p.addr(20882))
	startProvider(t, "provider-v2", "2.0.0", p.addr(20892))
	side := startConsumerOnly(t, p, nil)

	healthy := dialAddr(t, side.addr)
	stop := make(chan struct{})
	calls, bad, done := healthyLoop(t, healthy, stop)

	for _, inArg := range []bool{true, false} {
		name := "argument: list nested 10000 deep"
		if !inArg {
			name = "attachment: map nested 10000 deep"
		}
		t.Run(name, func(t *testing.T) {
			before := v1.calls.Load() // the healthy loop uses v2 only
			conn, err := net.Dial("tcp", side.addr)
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			_, err = conn.Write(nestedRequest(t, 77, 10000, inArg))
			require.NoError(t, err)
			res := readResponse(t, conn)
			t.Logf("status %d after %v: %q", res.Status, time.Since(start).Round(time.Millisecond), res.ErrorMessage)
			assert.Equal(t, uint64(77), res.RequestID)
			assert.Equal(t, dubbopeer.StatusBadRequest, res.Status)
			assert.Contains(t, res.ErrorMessage, "bad request")
			assert.Equal(t, before, v1.calls.Load(), "the request reached a provider")

			// Same connection: a nesting within the limit, then a plain call.
			_, err = conn.Write(nestedRequest(t, 78, 10, inArg))
			require.NoError(t, err)
			res = readResponse(t, conn)
			assert.Equal(t, uint64(78), res.RequestID)
			assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			c := dubbopeer.NewClient(conn, dubbopeer.WithFirstRequestID(100))
			res = call(t, c, orderService, "place", []interface{}{"after"}, nil)
			assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "after", res.Value)
			assert.Zero(t, c.Mismatches())
		})
	}
	close(stop)
	<-done
	assert.Positive(t, calls.Load())
	assert.Zero(t, bad.Load(), "the healthy client was affected")
}

// 7. A connection that sends 10 bytes of a header and nothing more.
//
// MOSN v1.3.0 has no per-frame read timeout: a downstream connection is
// closed only by the listener's idle checker (no connection_idle_timeout
// in the shipped config, so types.DefaultIdleTimeout = 90s, checked every
// DefaultConnReadTimeout = 15s, counting only intervals in which no byte
// was read or written). The partial frame just waits in the buffer.
func TestFaultUnfinishedFrame(t *testing.T) {
	t.Parallel()
	p := faultPorts(t)
	startProvider(t, "provider-v1", "1.0.0", p.addr(20882))
	startProvider(t, "provider-v2", "2.0.0", p.addr(20892))
	side := startConsumerOnly(t, p, nil)

	healthy := dialAddr(t, side.addr)
	stop := make(chan struct{})
	calls, bad, done := healthyLoop(t, healthy, stop)

	good, err := dubbopeer.EncodeRequestFrame(5, &dubbopeer.Invocation{Service: orderService, Method: "place", Version: "1.0.0", Args: []interface{}{"late"}}, true)
	require.NoError(t, err)

	stuck, err := net.Dial("tcp", side.addr)
	require.NoError(t, err)
	defer stuck.Close()
	finished, err := net.Dial("tcp", side.addr)
	require.NoError(t, err)
	defer finished.Close()
	for _, c := range []net.Conn{stuck, finished} {
		_, err = c.Write(good[:10])
		require.NoError(t, err)
	}

	// Nothing comes back and nothing closes for 3s.
	_ = stuck.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := stuck.Read(make([]byte, 64))
	assert.Zero(t, n)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "MOSN closed or answered a half header: %v", err)

	// The other half-sent frame, finished after 3s, is still served.
	_, err = finished.Write(good[10:])
	require.NoError(t, err)
	res := readResponse(t, finished)
	assert.Equal(t, uint64(5), res.RequestID)
	assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	assert.Equal(t, "late", res.Value)

	// After the stuck connection closes, new clients are served.
	require.NoError(t, stuck.Close())
	c := dialAddr(t, side.addr)
	for i := 0; i < 5; i++ {
		arg := fmt.Sprintf("later-%d", i)
		res := call(t, c, orderService, "place", []interface{}{arg}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, arg, res.Value)
	}
	close(stop)
	<-done
	assert.Positive(t, calls.Load())
	assert.Zero(t, bad.Load(), "the healthy client was affected")
}
