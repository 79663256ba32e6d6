package e2e

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// governed is one MOSN running configs/governance/sidecar.json: a Dubbo
// and a Thrift listener, each with every governance filter, in front of a
// Dubbo provider and a Thrift server, with the Prometheus sink on.
type governed struct {
	ports       ports
	dubbo       string
	thrift      string
	metricsAddr string
	provider    *provider
	proc        *mosnProc
}

func startGoverned(t *testing.T) *governed {
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	p := newPorts(t, 20880, 20881, 9090, 9091, 34990, 34921)
	g := &governed{ports: p, dubbo: p.addr(20881), thrift: p.addr(9091), metricsAddr: p.addr(34990),
		provider: &provider{instance: "governed-provider", version: "1.0.0", addr: p.addr(20880)}}
	g.provider.start(t)
	t.Cleanup(g.provider.stop)
	startPeer(t, "thrift-server", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "governed-thrift")
	g.proc = startMOSN(t, "governed-sidecar", loadConfig(t, "configs/governance/sidecar.json", p), g.dubbo, g.thrift)
	return g
}

// metrics returns the Prometheus exposition of the sidecar.
func (g *governed) metrics(t *testing.T) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + g.metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 100*time.Millisecond)
	return body
}

func TestGovernanceDubbo(t *testing.T) {
	t.Parallel()
	g := startGoverned(t)
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), g.dubbo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	greet := func(att map[string]string) *dubbopeer.Result {
		return call(t, c, greetingService, "greet", []interface{}{"x"}, att)
	}

	t.Run("header mutation on request and response", func(t *testing.T) {
		res := greet(nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, greetingService+"/greet", res.Attachments["seen-x-mesh-tagged"], "the provider saw the attachment the filter set")
		assert.Equal(t, "meshproto", res.Attachments["x-served-via"], "the response attachment the filter set reached the client")
	})
	t.Run("access control by service and header", func(t *testing.T) {
		res := call(t, c, orderService, "place", []interface{}{"book"}, nil)
		assert.Equal(t, byte(40), res.Status)
		assert.Contains(t, res.ErrorMessage, `"orders"`)
		res = call(t, c, orderService, "place", []interface{}{"book"}, map[string]string{"x-caller": "trusted"})
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	})
	t.Run("access control by source address", func(t *testing.T) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 3 * time.Second}
		conn, err := d.Dial("tcp", g.dubbo)
		require.NoError(t, err)
		blocked := dubbopeer.NewClient(conn)
		defer blocked.Close()
		res := call(t, blocked, greetingService, "greet", []interface{}{"x"}, nil)
		assert.Equal(t, byte(40), res.Status)
		assert.Contains(t, res.ErrorMessage, "blocked-source")
	})
	t.Run("rate limit per attachment value", func(t *testing.T) {
		// qps 1, burst 3: however slow the machine, no more than the burst
		// plus one call per second elapsed get through, and the burst does.
		start := time.Now()
		ok := 0
		const n = 8
		for i := 0; i < n; i++ {
			res := greet(map[string]string{"x-tenant": "t1"})
			if res.Status == dubbopeer.StatusOK {
				ok++
				continue
			}
			assert.Equal(t, byte(100), res.Status, "SERVER_THREADPOOL_EXHAUSTED as configured")
			assert.Contains(t, res.ErrorMessage, "rate limited")
		}
		allowed := 3 + int(time.Since(start)/time.Second)
		assert.GreaterOrEqual(t, ok, 3, "the burst")
		assert.LessOrEqual(t, ok, allowed, "burst 3 + 1 per second")
		res := greet(map[string]string{"x-tenant": "t2"})
		assert.Equal(t, dubbopeer.StatusOK, res.Status, "another tenant has its own bucket")
	})
	t.Run("fault injection abort and delay", func(t *testing.T) {
		before := g.provider.calls.Load()
		res := greet(map[string]string{"x-fault": "abort"})
		assert.Equal(t, byte(70), res.Status)
		assert.Contains(t, res.ErrorMessage, "injected fault")
		assert.Equal(t, before, g.provider.calls.Load(), "an aborted call never reaches the provider")
		start := time.Now()
		res = greet(map[string]string{"x-fault": "delay"})
		assert.Equal(t, dubbopeer.StatusOK, res.Status)
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	})
	t.Run("in-flight cap per connection", func(t *testing.T) {
		// 96 slow calls pipelined on one connection, cap 64: the rest are
		// answered at once with status 100, and the connection stays usable.
		busy, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), g.dubbo)
		require.NoError(t, err)
		defer busy.Close()
		var wg sync.WaitGroup
		var ok, limited atomic.Int64
		for i := 0; i < 96; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := busy.Call(ctxTimeout(t, 10*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "sleep", Version: "1.0.0", Args: []interface{}{int32(400)}})
				switch {
				case err != nil:
				case res.Status == dubbopeer.StatusOK:
					ok.Add(1)
				case res.Status == 100 && strings.Contains(res.ErrorMessage, "max_in_flight"):
					limited.Add(1)
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int64(96), ok.Load()+limited.Load(), "every call answered")
		assert.Positive(t, limited.Load())
		assert.LessOrEqual(t, ok.Load(), int64(64))
		res := call(t, busy, greetingService, "greet", []interface{}{"x"}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, "the connection is usable once calls finish")
	})
	t.Run("metrics exported with service and method labels", func(t *testing.T) {
		body := g.metrics(t)
		assert.Regexp(t, `meshproto_rpc_requests_total\{method="greet",protocol="dubbo",service="org.meshproto.demo.GreetingService"\} [1-9]`, body)
		assert.Regexp(t, `meshproto_rpc_responses_total\{method="greet",outcome="success",protocol="dubbo",service="org.meshproto.demo.GreetingService",status="20"\} [1-9]`, body)
		assert.Regexp(t, `meshproto_rpc_responses_total\{method="greet",outcome="local",protocol="dubbo",service="org.meshproto.demo.GreetingService",status="429"\} [1-9]`, body, "rate-limited calls")
		assert.Regexp(t, `meshproto_rpc_responses_total\{method="place",outcome="local",protocol="dubbo",service="org.meshproto.demo.OrderService",status="403"\} [1-9]`, body, "denied calls")
		assert.Regexp(t, `meshproto_rpc_latency_us_bucket\{le="[0-9]+",method="greet",protocol="dubbo",service="org.meshproto.demo.GreetingService"\}`, body)
		assert.Regexp(t, `meshproto_access_requests\{action="deny",rule="orders"\} [1-9]`, body)
	})
}

func TestGovernanceThrift(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	g := startGoverned(t)
	for _, c := range clients {
		c := c
		run := func(args ...string) []thriftLine {
			lines, _ := c.run(t, append([]string{"-addr", g.thrift, "-transport", "header", "-protocol", "compact", "-multiplex"}, args...)...)
			return lines
		}
		t.Run(c.name+"/header mutation", func(t *testing.T) {
			lines := run("-method", "greet", "-name", "m")
			require.Len(t, lines, 1)
			require.True(t, lines[0].OK, lines[0].Error)
			assert.Equal(t, "Greeter/greet", lines[0].Headers["x-mesh-tagged"])
			assert.Equal(t, "meshproto", lines[0].ReplyHeaders["x-served-via"])
		})
		t.Run(c.name+"/access control", func(t *testing.T) {
			lines := run("-service", "Calculator", "-method", "divide", "-a", "6", "-b", "3")
			require.Len(t, lines, 1)
			assert.Equal(t, "TApplicationException", lines[0].Exception)
			assert.Equal(t, 1, lines[0].AppExcType, "UNKNOWN_METHOD as configured")
			assert.Contains(t, lines[0].Error, "divide is not allowed here")
			lines = run("-service", "Calculator", "-method", "add", "-a", "6", "-b", "3")
			require.Len(t, lines, 1)
			assert.True(t, lines[0].OK, lines[0].Error)
		})
		t.Run(c.name+"/rate limit", func(t *testing.T) {
			tenant := "x-tenant=" + c.name
			start := time.Now()
			lines := run("-method", "greet", "-name", "r", "-n", "5", "-header", tenant)
			elapsed := time.Since(start) // includes the client's start-up: an upper bound
			require.Len(t, lines, 5)
			ok := 0
			for _, l := range lines {
				if l.OK {
					ok++
					continue
				}
				assert.Equal(t, "TApplicationException", l.Exception)
				assert.Equal(t, 6, l.AppExcType)
				assert.Contains(t, l.Error, "rate limited")
			}
			assert.GreaterOrEqual(t, ok, 3, "the burst")
			assert.LessOrEqual(t, ok, 3+int(elapsed/time.Second), "burst 3 + 1 per second")
		})
		t.Run(c.name+"/fault injection", func(t *testing.T) {
			lines := run("-method", "greet", "-name", "f", "-header", "x-fault=abort")
			require.Len(t, lines, 1)
			assert.Equal(t, "TApplicationException", lines[0].Exception)
			assert.Equal(t, 6, lines[0].AppExcType)
			assert.Contains(t, lines[0].Error, "injected fault")
			start := time.Now()
			lines = run("-method", "greet", "-name", "d", "-header", "x-fault=delay")
			require.Len(t, lines, 1)
			assert.True(t, lines[0].OK, lines[0].Error)
			assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
		})
	}
	t.Run("metrics exported with service and method labels", func(t *testing.T) {
		body := g.metrics(t)
		assert.Regexp(t, `meshproto_rpc_requests_total\{method="greet",protocol="thrift",service="Greeter"\} [1-9]`, body)
		assert.Regexp(t, `meshproto_rpc_responses_total\{method="greet",outcome="success",protocol="thrift",service="Greeter",status="0"\} [1-9]`, body)
		assert.Regexp(t, `meshproto_rpc_responses_total\{method="divide",outcome="local",protocol="thrift",service="Calculator",status="403"\} [1-9]`, body)
		assert.Regexp(t, `meshproto_access_requests\{action="deny",rule="no-divide"\} [1-9]`, body)
	})
}

// TestAccessLogDubboAndThrift: configs/governance/sidecar.json's access log
// format prints the RPC fields of a Dubbo and a Thrift call (hessian client
// and the Go Thrift client), answered or refused, on MOSN's stdout.
func TestAccessLogDubboAndThrift(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	g := startGoverned(t)
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), g.dubbo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	res := call(t, c, greetingService, "greet", []interface{}{"x"}, map[string]string{"x-tenant": "t-log"})
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	res = call(t, c, orderService, "place", []interface{}{"book"}, nil)
	require.Equal(t, byte(40), res.Status)
	lines, _ := clients[0].run(t, "-addr", g.thrift, "-transport", "header", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "log")
	require.Len(t, lines, 1)
	require.True(t, lines[0].OK, lines[0].Error)
	for _, want := range []string{
		`dubbo request ` + greetingService + ` 1.0.0 greet id=\d+ tenant=t-log from=127.0.0.1:\d+ cluster=\S+ success status=20 `,
		`dubbo request ` + orderService + ` \S+ place id=\d+ .* local status=403 .* error=meshproto: .*orders`,
		`thrift request Greeter - greet id=\d+ .* success status=0 `,
	} {
		re := regexp.MustCompile(want)
		require.Eventually(t, func() bool { return re.MatchString(g.proc.log.String()) }, 5*time.Second, 100*time.Millisecond, want)
	}
}
