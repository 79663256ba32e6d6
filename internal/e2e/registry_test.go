package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
	"github.com/meshproto/meshproto/internal/zktest"
)

// adapterBinary is build/registry-adapter (MESHPROTO_REGISTRY_ADAPTER), or
// one built for this test run.
func adapterBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MESHPROTO_REGISTRY_ADAPTER"); p != "" {
		return p
	}
	adapterOnce.Do(func() {
		adapterPath = filepath.Join(os.TempDir(), fmt.Sprintf("meshproto-registry-adapter-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", adapterPath, "./plugins/registry-adapter").CombinedOutput()
		if err != nil {
			adapterErr = fmt.Errorf("go build registry-adapter: %v\n%s", err, out)
		}
	})
	require.NoError(t, adapterErr)
	return adapterPath
}

var (
	adapterOnce sync.Once
	adapterPath string
	adapterErr  error
)

func init() {
	// go build above runs from the repository root.
	_ = os.Chdir(repoRoot())
}

// adapterProc is a running registry-adapter.
type adapterProc struct {
	cmd      *exec.Cmd
	logs     *syncBuffer
	xdsPort  int
	httpAddr string
}

func startAdapter(t *testing.T, zkAddr string, listen string, extra ...string) *adapterProc {
	t.Helper()
	a := &adapterProc{logs: &syncBuffer{}, xdsPort: freePort(t), httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	args := append([]string{"-zookeeper", zkAddr, "-xds", fmt.Sprintf("127.0.0.1:%d", a.xdsPort), "-http", a.httpAddr,
		"-listen", listen, "-debounce", "50ms", "-session-timeout", "4s", "-timeout", "3s"}, extra...)
	a.cmd = exec.Command(adapterBinary(t), args...)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	require.NoError(t, a.cmd.Start())
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = a.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("registry-adapter log:\n%s", a.logs.String())
		}
	})
	require.Eventually(t, func() bool { return a.get(t, "/healthz") != "" }, 10*time.Second, 50*time.Millisecond, "adapter health")
	return a
}

// startRegistrySidecar runs build/mosn with the shipped bootstrap
// (configs/registry/consumer-sidecar.json: only the ADS cluster and the
// admin port), pointed at the adapter; everything else comes over ADS.
func startRegistrySidecar(t *testing.T, name string, a *adapterProc, listen string) *mosnProc {
	t.Helper()
	p := ports{15010: a.xdsPort, 34921: freePort(t)}
	const node = "sidecar~127.0.0.1~consumer-0.default~default.svc.cluster.local"
	return startXDSMOSN(t, name, loadConfig(t, "configs/registry/consumer-sidecar.json", p), node, "consumer.default", listen)
}

// get returns the body of a 200 answer, "" otherwise.
func (a *adapterProc) get(t *testing.T, path string) string {
	resp, err := http.Get("http://" + a.httpAddr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// metric reads one sample from /metrics ("" when absent).
func (a *adapterProc) metric(t *testing.T, series string) string {
	sc := bufio.NewScanner(strings.NewReader(a.get(t, "/metrics")))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

// providersSeries names the adapter's providers gauge of an interface
// without a group.
func providersSeries(iface string) string {
	return fmt.Sprintf("meshproto_registry_providers{interface=%q,group=\"\"}", iface)
}

// tally makes n calls and counts who served them (the failure reason
// when nobody did).
func tally(n int, call func() (who, why string)) map[string]int {
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		who, why := call()
		if who == "" {
			who = why
		}
		counts[who]++
	}
	return counts
}

// zkProvider is a provider node as a Dubbo SDK writes it.
func zkProviderNode(iface, addr, version string, params ...string) string {
	u := "dubbo://" + addr + "/" + iface + "?interface=" + iface + "&side=provider&methods=greet,sleep"
	if version != "" {
		u += "&version=" + version
	}
	for _, p := range params {
		u += "&" + p
	}
	return url.QueryEscape(u)
}

// TestRegistryAdapterRoutesZooKeeperProviders: providers registered in a
// real ZooKeeper become the consumer sidecar's routes through the adapter
// (ADS, no other configuration): version routing, Dubbo's weights, tag
// routing with the untagged fallback, a provider leaving and joining, a
// dubbo-admin override, a malformed node ignored, and the metrics.
func TestRegistryAdapterRoutesZooKeeperProviders(t *testing.T) {
	t.Parallel()
	zks := zktest.Start(t)
	const iface = "org.meshproto.demo.Greeting"
	p1 := &provider{instance: "p1", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p2 := &provider{instance: "p2", version: "2.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p3 := &provider{instance: "p3-gray", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p4 := &provider{instance: "p4", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p5 := &provider{instance: "p5", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	for _, p := range []*provider{p1, p2, p3, p4, p5} {
		p.start(t)
		t.Cleanup(p.stop)
	}
	c := zks.Client(t)
	dir := "/dubbo/" + iface + "/providers"
	zktest.Ensure(t, c, dir)
	registerIn := func(dir, node string) string {
		t.Helper()
		_, err := c.Create(dir+"/"+node, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		require.NoError(t, err)
		return node
	}
	register := func(node string) string { t.Helper(); return registerIn(dir, node) }
	n1 := register(zkProviderNode(iface, p1.addr, "1.0.0", "weight=100"))
	register(zkProviderNode(iface, p2.addr, "2.0.0"))
	register(zkProviderNode(iface, p3.addr, "1.0.0", "dubbo.tag=gray"))
	register(url.QueryEscape("dubbo://not a url/%%%"))                         // malformed: ignored, logged
	register(zkProviderNode(iface, "127.0.0.1:1", "1.0.0", "weight=heavy"))    // bad weight: ignored
	register(zkProviderNode("org.other.Iface", "127.0.0.1:2", "1.0.0", "x=y")) // wrong directory: ignored
	// Call policies the providers advertise (another interface): p6 a
	// 300 ms timeout, p7 cluster=failfast; p8 nothing (the adapter's
	// defaults: 3 s, 2 retries).
	const policyIface = "org.meshproto.demo.Policy"
	policyDir := "/dubbo/" + policyIface + "/providers"
	zktest.Ensure(t, c, policyDir)
	var policyProviders []*provider
	for _, pp := range []struct{ instance, version, param string }{
		{"p6", "4.0.0", "timeout=300"}, {"p7", "5.0.0", "cluster=failfast&retries=2"}, {"p8", "6.0.0", "cluster=failover&retries="},
	} {
		p := &provider{instance: pp.instance, version: pp.version, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		p.start(t)
		t.Cleanup(p.stop)
		policyProviders = append(policyProviders, p)
		registerIn(policyDir, zkProviderNode(policyIface, p.addr, pp.version, pp.param))
	}

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAdapter(t, zks.Addr(), listen)
	startRegistrySidecar(t, "registry-consumer-sidecar", a, listen)

	cl, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), listen, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, cl.Mismatches())
		_ = cl.Close()
	})
	call := func(version string, att map[string]string) (string, byte) {
		res, err := cl.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{
			Service: iface, Method: "greet", Version: version, Args: []interface{}{"x"}, Attachments: att,
		})
		if err != nil {
			return "error: " + err.Error(), 0
		}
		if res.Status != dubbopeer.StatusOK {
			return res.ErrorMessage, res.Status
		}
		return res.Attachments["instance"], res.Status
	}
	until := func(what string, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		require.Eventually(t, ok, 15*time.Second, 20*time.Millisecond, what)
		return time.Since(start)
	}
	until("first push", func() bool { got, _ := call("1.0.0", nil); return got == "p1" })

	t.Run("version routing", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			got, _ := call("1.0.0", nil)
			assert.Equal(t, "p1", got, "1.0.0 untagged: only p1")
			got, _ = call("2.0.0", nil)
			assert.Equal(t, "p2", got)
		}
		got, status := call("3.0.0", nil)
		assert.NotEqual(t, byte(dubbopeer.StatusOK), status, "no provider of 3.0.0: %s", got)
	})

	t.Run("hostile input beside a healthy client on the shared upstream", func(t *testing.T) {
		// The healthy client's calls and the bad connections' good frames
		// go to p2 over the sidecar's shared upstream connection.
		var stop atomic.Bool
		var calls, bad atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				got, _ := call("2.0.0", nil)
				calls.Add(1)
				if got != "p2" {
					bad.Add(1)
				}
			}
		}()
		good, err := dubbopeer.EncodeRequestFrame(9, &dubbopeer.Invocation{Service: iface, Method: "greet", Version: "2.0.0", Args: []interface{}{"x"}}, true)
		require.NoError(t, err)
		withLength := func(n uint32) []byte {
			h := append([]byte(nil), good[:16]...)
			binary.BigEndian.PutUint32(h[12:], n)
			return h
		}
		for _, send := range [][]byte{[]byte("not dubbo\r\n\r\n"), withLength(0x7fffffff), withLength(8<<20 + 1)} {
			conn, err := net.Dial("tcp", listen)
			require.NoError(t, err)
			_, err = conn.Write(send)
			require.NoError(t, err)
			expectClosed(t, conn, 3*time.Second)
			_ = conn.Close()
		}
		// A malformed body: a Dubbo error for that request, the connection
		// stays and serves the next one.
		conn, err := net.Dial("tcp", listen)
		require.NoError(t, err)
		defer conn.Close()
		body := []byte{0x05, '2', '.', '0', '.', '2', 0x04, 'S', 'v', 'c', '1', 0x00, 0x01, 'm', 0x01, 'I'}
		malformed := append(append([]byte(nil), good[:16]...), body...)
		binary.BigEndian.PutUint32(malformed[12:], uint32(len(body)))
		_, err = conn.Write(malformed)
		require.NoError(t, err)
		res := readResponse(t, conn)
		assert.Equal(t, uint64(9), res.RequestID)
		assert.Equal(t, byte(40), res.Status, "BAD_REQUEST")
		_, err = conn.Write(good)
		require.NoError(t, err)
		res = readResponse(t, conn)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "p2", res.Attachments["instance"])
		stop.Store(true)
		<-done
		assert.Positive(t, calls.Load())
		assert.Zero(t, bad.Load(), "the healthy client saw errors or another's answers")
	})

	t.Run("tag routing with Dubbo's untagged fallback", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			got, _ := call("1.0.0", map[string]string{"dubbo.tag": "gray"})
			assert.Equal(t, "p3-gray", got)
			got, _ = call("1.0.0", map[string]string{"dubbo.tag": "blue"})
			assert.Equal(t, "p1", got, "no provider tagged blue: untagged ones")
		}
	})

	t.Run("weights 100:300 within a version", func(t *testing.T) {
		n5 := register(zkProviderNode(iface, p5.addr, "1.0.0", "weight=300"))
		until("p5 joins", func() bool { got, _ := call("1.0.0", nil); return got == "p5" })
		counts := map[string]int{}
		const n = 400
		for i := 0; i < n; i++ {
			got, _ := call("1.0.0", nil)
			counts[got]++
		}
		t.Logf("version 1.0.0: %v (weights p1 100, p5 300)", counts)
		assert.Equal(t, n, counts["p1"]+counts["p5"], "only untagged providers: %v", counts)
		assert.InDelta(t, 0.75, float64(counts["p5"])/n, 0.1, "p5's share with weight 300 against 100: %v", counts)
		require.NoError(t, c.Delete(dir+"/"+n5, -1))
		until("p5 leaves", func() bool {
			for i := 0; i < 8; i++ {
				if got, _ := call("1.0.0", nil); got != "p1" {
					return false
				}
			}
			return true
		})
	})

	t.Run("a provider leaves and another joins", func(t *testing.T) {
		start := time.Now()
		require.NoError(t, c.Delete(dir+"/"+n1, -1))
		until("p1 gone", func() bool { _, st := call("1.0.0", nil); return st != dubbopeer.StatusOK })
		t.Logf("p1's node deleted: calls stopped reaching it after %s", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		register(zkProviderNode(iface, p4.addr, "1.0.0"))
		until("p4 serves", func() bool { got, _ := call("1.0.0", nil); return got == "p4" })
		t.Logf("p4 registered: took traffic after %s", time.Since(start).Round(time.Millisecond))
		for i := 0; i < 20; i++ {
			got, _ := call("1.0.0", nil)
			assert.Equal(t, "p4", got)
		}
	})

	t.Run("dubbo-admin override: disabled", func(t *testing.T) {
		zktest.Ensure(t, c, "/dubbo/config/dubbo")
		rule := "/dubbo/config/dubbo/" + iface + ":2.0.0:.configurators"
		doc := "configVersion: v2.7\nscope: service\nkey: " + iface + ":2.0.0\nenabled: true\nconfigs:\n- addresses: [\"" + p2.addr + "\"]\n  side: provider\n  parameters:\n    disabled: \"true\"\n"
		_, err := c.Create(rule, []byte(doc), 0, zk.WorldACL(zk.PermAll))
		require.NoError(t, err)
		until("p2 disabled", func() bool { _, st := call("2.0.0", nil); return st != dubbopeer.StatusOK })
		require.NoError(t, c.Delete(rule, -1))
		until("p2 back", func() bool { got, _ := call("2.0.0", nil); return got == "p2" })
	})

	t.Run("timeout and retries the providers advertise", func(t *testing.T) {
		callP := func(version, method string, arg interface{}) (*dubbopeer.Result, time.Duration) {
			start := time.Now()
			res, err := cl.Call(ctxTimeout(t, 10*time.Second), &dubbopeer.Invocation{
				Service: policyIface, Method: method, Version: version, Args: []interface{}{arg},
			})
			require.NoError(t, err)
			return res, time.Since(start)
		}
		res, _ := callP("4.0.0", "sleep", int32(10))
		require.Equal(t, byte(dubbopeer.StatusOK), res.Status, res.ErrorMessage)
		res, took := callP("4.0.0", "sleep", int32(1500))
		assert.NotEqual(t, byte(dubbopeer.StatusOK), res.Status, "p6 advertises timeout=300")
		assert.Contains(t, res.ErrorMessage, "timeout")
		assert.Less(t, took, 1200*time.Millisecond, "cut at p6's 300 ms, not the adapter's 3 s: %s", took)
		t.Logf("a 1.5 s call to p6 (timeout=300) answered after %s: status %d %s", took.Round(time.Millisecond), res.Status, res.ErrorMessage)
		// "flaky" refuses every other call as overloaded (status 100 ->
		// 503): the failover default retries it, failfast does not.
		var failfastFailed, failoverFailed int
		for i := 0; i < 10; i++ {
			if res, _ := callP("5.0.0", "flaky", "x"); res.Status != dubbopeer.StatusOK {
				failfastFailed++
			}
			if res, _ := callP("6.0.0", "flaky", "x"); res.Status != dubbopeer.StatusOK {
				failoverFailed++
			}
		}
		assert.Equal(t, 5, failfastFailed, "p7 advertises cluster=failfast: every refused call reaches the client")
		assert.Zero(t, failoverFailed, "p8 advertises nothing: the adapter's 2 retries")
		assert.Equal(t, int64(10), policyProviders[1].calls.Load(), "failfast: one attempt per call")
		assert.Equal(t, int64(20), policyProviders[2].calls.Load(), "failover: each call refused once, then served on its retry")
	})

	t.Run("metrics and health", func(t *testing.T) {
		assert.Equal(t, "3", a.metric(t, providersSeries(iface)), "p2, p3, p4")
		assert.Equal(t, "1", a.metric(t, "meshproto_registry_zookeeper_connected"))
		assert.Equal(t, "1", a.metric(t, "meshproto_registry_xds_streams"))
		assert.NotEqual(t, "0", a.metric(t, "meshproto_registry_problems"), "the malformed nodes are counted")
		assert.Contains(t, a.get(t, "/healthz"), `"serving":true`)
		logs := a.logs.String()
		assert.Contains(t, logs, "bad weight")
		assert.Contains(t, logs, "registered under")
		assert.Contains(t, logs, "provider removed: "+iface+":1.0.0 at "+p1.addr)
	})
}

// TestRegistryAdapterRegistrationAPI: an application that cannot be told
// its sidecar's address registers through the adapter's API (MOSN
// dubbod's /pub /unpub /sub /unsub bodies): the node names the sidecar's
// inbound listener with the version and group, republishing keeps one
// node, calls flow while registered and stop after /unpub (no stale
// host), bad requests are refused, and stopping the adapter removes what
// it registered at once.
func TestRegistryAdapterRegistrationAPI(t *testing.T) {
	t.Parallel()
	zks := zktest.Start(t)
	const iface = "org.meshproto.demo.Registered"
	p := newPorts(t, 20880, 20882, 34901, 34902)
	prov := &provider{instance: "registered-1", version: "1.0.0", addr: p.addr(20880)}
	prov.start(t)
	t.Cleanup(prov.stop)
	startMOSN(t, "registered-provider-sidecar", loadConfig(t, "configs/dubbo/provider-sidecar.json", p), p.addr(20882))

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAdapter(t, zks.Addr(), listen, "-register-address", p.addr(20882), "-application", "registered-app")
	startRegistrySidecar(t, "registered-consumer-sidecar", a, listen)

	c := zks.Client(t)
	post := func(path, body string) (int, string) {
		resp, err := http.Post("http://"+a.httpAddr+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	svc := `{"registry": {"type": "zookeeper", "addr": "` + zks.Addr() + `"}, "service": {"interface": "` + iface + `", "methods": ["greet", "sleep"], "version": "1.0.0", "group": "blue", "weight": 200}}`
	providers := func() []string {
		kids, _, err := c.Children("/dubbo/" + iface + "/providers")
		if err != nil {
			return nil
		}
		var out []string
		for _, k := range kids {
			u, _ := url.QueryUnescape(k)
			out = append(out, u)
		}
		return out
	}
	cl, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), listen, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	call := func() (string, byte) {
		res, err := cl.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{
			Service: iface, Method: "greet", Version: "1.0.0", Group: "blue", Args: []interface{}{"x"}})
		if err != nil {
			return err.Error(), 0
		}
		return res.Attachments["instance"], res.Status
	}

	code, body := post("/pub", svc)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"err_no":0`)
	require.Eventually(t, func() bool { return len(providers()) == 1 }, 5*time.Second, 20*time.Millisecond)
	u := providers()[0]
	assert.True(t, strings.HasPrefix(u, "dubbo://"+p.addr(20882)+"/"+iface+"?"), u)
	for _, want := range []string{"version=1.0.0", "group=blue", "weight=200", "methods=greet,sleep", "side=provider", "application=registered-app"} {
		assert.Contains(t, u, want)
	}
	require.Eventually(t, func() bool { got, _ := call(); return got == "registered-1" }, 10*time.Second, 20*time.Millisecond, "calls reach the registered provider through both sidecars")

	code, body = post("/pub", svc)
	require.Equal(t, http.StatusOK, code, body)
	assert.Len(t, providers(), 1, "republishing keeps one node")

	code, body = post("/sub", `{"service": {"interface": "`+iface+`", "version": "1.0.0", "group": "blue"}}`)
	require.Equal(t, http.StatusOK, code, body)
	consumers, _, err := c.Children("/dubbo/" + iface + "/consumers")
	require.NoError(t, err)
	assert.Len(t, consumers, 1)

	for _, bad := range []struct{ path, body, want string }{
		{"/pub", `{"service": {"methods": ["x"]}}`, "interface is required"},
		{"/pub", `{"registry": {"type": "nacos"}, "service": {"interface": "a.B"}}`, "only zookeeper"},
		{"/pub", `{"service": {"interface": "a/B"}}`, "no '/'"},
		{"/pub", `{"service": {"interface": "a.B", "methods": ["m&x=1"]}}`, "bad method name"},
		{"/pub", `not json`, "bad JSON body"},
		{"/unpub", `{"service": {"interface": "never.Registered"}}`, "not registered here"},
	} {
		code, body := post(bad.path, bad.body)
		assert.Equal(t, http.StatusBadRequest, code, bad.body)
		assert.Contains(t, body, bad.want, bad.body)
	}
	resp, err := http.Get("http://" + a.httpAddr + "/pub")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "2", a.metric(t, "meshproto_registry_registrations"))

	code, body = post("/unpub", svc)
	require.Equal(t, http.StatusOK, code, body)
	assert.Empty(t, providers())
	require.Eventually(t, func() bool { _, st := call(); return st != dubbopeer.StatusOK }, 10*time.Second, 20*time.Millisecond, "no stale host after /unpub")

	// Registered again, then the adapter stops: its nodes go at once,
	// not after the session timeout.
	code, body = post("/pub", svc)
	require.Equal(t, http.StatusOK, code, body)
	require.Len(t, providers(), 1)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	start := time.Now()
	require.Eventually(t, func() bool { return len(providers()) == 0 }, 3*time.Second, 10*time.Millisecond, "unregistered on shutdown")
	t.Logf("adapter stopped: its provider node was gone after %s (session timeout 4 s)", time.Since(start).Round(time.Millisecond))
}

// TestRegistryAdapterSessionExpiryAndScale: the adapter is frozen
// (SIGSTOP) past its ZooKeeper session timeout while the registry changes
// and the sidecar keeps routing by the last state; thawed, it gets a new
// session, re-lists and serves the changed registry (nothing stale,
// nothing lost). Then 1,000 interfaces x 3 providers: the push time, the
// adapter's memory and the time until the sidecar routes the last
// interface are reported; malformed and unknown-parameter nodes among
// them are ignored.
func TestRegistryAdapterSessionExpiryAndScale(t *testing.T) {
	t.Parallel()
	zks := zktest.Start(t)
	const iface = "org.meshproto.demo.Expiry"
	p1 := &provider{instance: "e1", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p2 := &provider{instance: "e2", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	for _, p := range []*provider{p1, p2} {
		p.start(t)
		t.Cleanup(p.stop)
	}
	c := zks.Client(t)
	dir := "/dubbo/" + iface + "/providers"
	zktest.Ensure(t, c, dir)
	n1 := zkProviderNode(iface, p1.addr, "1.0.0")
	_, err := c.Create(dir+"/"+n1, nil, 0, zk.WorldACL(zk.PermAll)) // persistent: outlives the test's session games
	require.NoError(t, err)

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAdapter(t, zks.Addr(), listen)
	startRegistrySidecar(t, "expiry-consumer-sidecar", a, listen)
	cl, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), listen, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	call := func(service string) string {
		res, err := cl.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: service, Method: "greet", Version: "1.0.0", Args: []interface{}{"x"}})
		if err != nil || res.Status != dubbopeer.StatusOK {
			return ""
		}
		return res.Attachments["instance"]
	}
	require.Eventually(t, func() bool { return call(iface) == "e1" }, 15*time.Second, 20*time.Millisecond)

	t.Run("session expiry: re-listed and reconciled", func(t *testing.T) {
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
		thawed := false
		defer func() {
			if !thawed {
				_ = a.cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		// While frozen: the registry changes; the sidecar keeps the last
		// state (e1).
		require.NoError(t, c.Delete(dir+"/"+n1, -1))
		_, err := c.Create(dir+"/"+zkProviderNode(iface, p2.addr, "1.0.0"), nil, 0, zk.WorldACL(zk.PermAll))
		require.NoError(t, err)
		for i := 0; i < 10; i++ {
			assert.Equal(t, "e1", call(iface), "the sidecar routes by the last pushed state while the adapter is away")
		}
		time.Sleep(6 * time.Second) // past the adapter's 4 s session timeout
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
		thawed = true
		require.Eventually(t, func() bool { return a.metric(t, "meshproto_registry_zookeeper_session_expiries_total") == "1" }, 15*time.Second, 50*time.Millisecond,
			"the adapter saw its session expire")
		// e1's removal waits out the removal delay (1 s) like any other.
		// Until then both are routed, and ten calls in a row can all
		// land on e2 by chance (the balancer picks either): so first the
		// adapter must publish e2 alone.
		providers := providersSeries(iface)
		require.Eventually(t, func() bool {
			if a.metric(t, providers) != "1" {
				return false
			}
			for i := 0; i < 10; i++ {
				if call(iface) != "e2" {
					return false
				}
			}
			return true
		}, 15*time.Second, 20*time.Millisecond, "reconciled: e2 in, e1 out")
		for i := 0; i < 10; i++ {
			assert.Equal(t, "e2", call(iface), "no stale e1")
		}
		assert.Equal(t, "1", a.metric(t, providers))
	})

	t.Run("1000 interfaces x 3 providers", func(t *testing.T) {
		const n = 1000
		start := time.Now()
		var ops []interface{}
		last := ""
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("org.meshproto.scale.Service%04d", i)
			last = name
			ops = append(ops,
				&zk.CreateRequest{Path: "/dubbo/" + name, Data: nil, Acl: zk.WorldACL(zk.PermAll)},
				&zk.CreateRequest{Path: "/dubbo/" + name + "/providers", Data: nil, Acl: zk.WorldACL(zk.PermAll)})
			for j := 0; j < 3; j++ {
				addr := p1.addr
				if j == 1 {
					addr = p2.addr
				}
				params := []string{"weight=" + fmt.Sprint(100*(j+1)), "unknown.param=" + fmt.Sprint(i)}
				nodeName := zkProviderNode(name, addr, "1.0.0", params...)
				if j == 2 {
					nodeName = zkProviderNode(name, fmt.Sprintf("127.0.0.1:%d", 1+i), "1.0.0", params...)
					if i%100 == 0 {
						nodeName = url.QueryEscape("dubbo://broken:port/" + name) // malformed
					}
				}
				ops = append(ops, &zk.CreateRequest{Path: "/dubbo/" + name + "/providers/" + nodeName, Data: nil, Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral})
			}
			if len(ops) >= 500 || i == n-1 {
				_, err := c.Multi(ops...)
				require.NoError(t, err)
				ops = ops[:0]
			}
		}
		written := time.Since(start)
		require.Eventually(t, func() bool {
			return a.metric(t, "meshproto_registry_services") == fmt.Sprint(n+1)
		}, 60*time.Second, 100*time.Millisecond, "all interfaces pushed")
		pushed := time.Since(start)
		require.Eventually(t, func() bool { return call(last) != "" }, 60*time.Second, 50*time.Millisecond, "the sidecar routes the last interface")
		routed := time.Since(start)
		build := a.metric(t, "meshproto_registry_last_push_build_seconds")
		rss := ""
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "VmRSS:") || strings.HasPrefix(l, "VmHWM:") {
					rss += strings.Join(strings.Fields(l), " ") + " "
				}
			}
		}
		t.Logf("%d interfaces x 3 providers: written to ZooKeeper in %s, pushed after %s (last push built in %ss), the sidecar routed the last one after %s; adapter %s",
			n, written.Round(time.Millisecond), pushed.Round(time.Millisecond), build, routed.Round(time.Millisecond), rss)
		assert.Equal(t, fmt.Sprint(n/100), a.metric(t, "meshproto_registry_problems"), "the malformed nodes, once each")
		assert.Contains(t, []string{"e1", "e2"}, call(last))
	})
}
