package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// The mesh under a real istiod (pilot-discovery built from the
// istio.io/istio module by internal/istiod/build.sh, no Kubernetes): the
// shipped configs/istio/resources are istiod's config directory,
// configs/istio/mesh.yaml its mesh config, and every sidecar is build/mosn
// started with configs/istio/sidecar-bootstrap.json and nothing else. The
// consumer calls its sidecar's egress listener; each provider has its own
// sidecar on a loopback alias (127.0.0.11, ...), as in a cluster each pod
// has its IP.

// istioMesh is one running mesh.
type istioMesh struct {
	consumer    string // the consumer sidecar's egress listener
	servicePort int
	configDir   string
	v1, v2      *provider
	sidecars    map[string]*mosnProc
	istiod      *syncBuffer
	ports       ports
}

// The workloads of configs/istio/resources: name, address, labels.
var istioWorkloads = []struct {
	name, ip string
	labels   map[string]string
}{
	{"greeting-provider-v1", "127.0.0.11", map[string]string{"app": "greeting-provider", "version": "1.0.0"}},
	{"greeting-provider-v2", "127.0.0.12", map[string]string{"app": "greeting-provider", "version": "2.0.0"}},
	{"user-provider", "127.0.0.13", map[string]string{"app": "user-provider", "version": "1.0.0"}},
	{"thrift-server-v1", "127.0.0.21", map[string]string{"app": "thrift-server", "version": "v1"}},
	{"thrift-server-v2", "127.0.0.22", map[string]string{"app": "thrift-server", "version": "v2"}},
}

// extra are more shipped Istio files for istiod (an EnvoyFilter).
func startIstioMesh(t *testing.T, meshEdit func(string) string, extra ...string) *istioMesh {
	t.Helper()
	thriftServer := peerBinary(t, "MESHPROTO_THRIFT", "server")
	dubbogoProvider := peerBinary(t, "MESHPROTO_DUBBOGO", "provider")
	// 20880: the RPC services' port (the consumer's egress listener and
	// every provider sidecar's inbound one); 20980...9190: the applications.
	// 4318: a trace collector's OTLP port, for resources that name one.
	p := newPorts(t, 20880, 20980, 20990, 21080, 9090, 9190, 15010, 18080, 15017, 15014, 19876, 4318)
	m := &istioMesh{servicePort: p[20880], sidecars: map[string]*mosnProc{}, ports: p}
	m.consumer = p.addr(20880)

	m.v1 = startProvider(t, "provider-v1", "1.0.0", p.addr(20980))
	m.v2 = startProvider(t, "provider-v2", "2.0.0", p.addr(20990))
	startPeer(t, "dubbo-go provider", dubbogoProvider, "-port", fmt.Sprint(p[21080]), "-instance", "dubbogo-istio", "-version", "1.0.0")
	startPeer(t, "thrift-v1", thriftServer, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1")
	startPeer(t, "thrift-v2", thriftServer, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2")
	m.configDir, m.istiod = startIstiod(t, p, meshEdit, extra...)

	m.startSidecar(t, "consumer", "127.0.0.1", map[string]string{"app": "consumer"}, p)
	for _, w := range istioWorkloads {
		m.startSidecar(t, w.name, w.ip, w.labels, p)
	}
	for _, w := range istioWorkloads {
		addr := fmt.Sprintf("%s:%d", w.ip, m.servicePort)
		if err := waitListening(addr, 30*time.Second, m.sidecars[w.name].done); err != nil {
			t.Fatalf("%s sidecar: %v\n%s", w.name, err, tail(m.sidecars[w.name].log.String(), 4000))
		}
	}
	if err := waitListening(m.consumer, 30*time.Second, m.sidecars["consumer"].done); err != nil {
		t.Fatalf("consumer sidecar: %v\n%s", err, tail(m.sidecars["consumer"].log.String(), 4000))
	}
	return m
}

// startIstiod runs istiod with the shipped resources and mesh config
// (meshEdit may change the latter), on p's ports; it returns istiod's
// config directory (edit it to push changes) and its log.
func startIstiod(t *testing.T, p ports, meshEdit func(string) string, extra ...string) (string, *syncBuffer) {
	t.Helper()
	return startIstiodFrom(t, p, "configs/istio/resources/*.yaml", "configs/istio/mesh.yaml", meshEdit, extra...)
}

// startIstiodFrom is startIstiod with other shipped resources and mesh
// config; the mesh config's "fs:///etc/meshproto/istio" config source (if
// any) is pointed at the copied resources.
func startIstiodFrom(t *testing.T, p ports, resources, meshConfig string, meshEdit func(string) string, extra ...string) (string, *syncBuffer) {
	t.Helper()
	istiod := peerBinary(t, "MESHPROTO_ISTIOD", "pilot-discovery")
	logs := &syncBuffer{}
	dir := t.TempDir()
	configDir := filepath.Join(dir, "resources")
	require.NoError(t, os.Mkdir(configDir, 0o755))
	files, err := filepath.Glob(filepath.Join(repoRoot(), resources))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, e := range extra {
		files = append(files, filepath.Join(repoRoot(), e))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(configDir, filepath.Base(f)), []byte(movePorts(string(b), p)), 0o644))
	}
	mesh, err := os.ReadFile(filepath.Join(repoRoot(), meshConfig))
	require.NoError(t, err)
	meshText := strings.ReplaceAll(movePorts(string(mesh), p), "fs:///etc/meshproto/istio", "fs://"+configDir)
	if meshEdit != nil {
		meshText = meshEdit(meshText)
	}
	meshFile := filepath.Join(dir, "mesh.yaml")
	require.NoError(t, os.WriteFile(meshFile, []byte(meshText), 0o644))

	cmd := exec.Command(istiod, "discovery", "--registries=", "--configDir="+configDir, "--meshConfig="+meshFile,
		"--grpcAddr="+p.addr(15010), "--httpAddr="+p.addr(18080), "--httpsAddr="+p.addr(15017),
		"--monitoringAddr="+p.addr(15014), "--secureGRPCAddr=", fmt.Sprintf("--ctrlz_port=%d", p[19876]),
		"--networksConfig="+filepath.Join(dir, "no-networks.yaml"))
	cmd.Env = append(os.Environ(), "ENABLE_CA_SERVER=false", "PILOT_CERT_PROVIDER=none")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("--- istiod log (tail) ---\n%s", tail(logs.String(), 6000))
		}
	})
	if err := waitListening(p.addr(15010), 60*time.Second, done); err != nil {
		t.Fatalf("istiod: %v\n%s", err, tail(logs.String(), 4000))
	}
	return configDir, logs
}

// movePorts puts this run's ports into a shipped Istio file, in one pass
// (a port just written must not be moved again).
func movePorts(s string, p ports) string {
	return portNumber.ReplaceAllStringFunc(s, func(n string) string {
		var v int
		fmt.Sscan(n, &v)
		if to, ok := p[v]; ok {
			return fmt.Sprint(to)
		}
		return n
	})
}

var portNumber = regexp.MustCompile(`\b[0-9]{4,5}\b`)

// startSidecar runs build/mosn with the shipped bootstrap and this
// workload's node identity.
func (m *istioMesh) startSidecar(t *testing.T, name, ip string, labels map[string]string, p ports) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "configs/istio/sidecar-bootstrap.json"))
	require.NoError(t, err)
	var cfg map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(movePorts(string(raw), ports{15010: p[15010]})), &cfg))
	node := cfg["node"].(map[string]interface{})
	node["id"] = fmt.Sprintf("sidecar~%s~%s.default~default.svc.cluster.local", ip, name)
	node["cluster"] = name + ".default"
	node["metadata"].(map[string]interface{})["LABELS"] = labels
	cfg["admin"].(map[string]interface{})["address"].(map[string]interface{})["socket_address"].(map[string]interface{})["port_value"] = freePort(t)
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	m.sidecars[name] = startMOSN(t, "sidecar-"+name, b)
}

// dubbo calls through the consumer sidecar until the mesh routes (istiod
// pushes listeners, routes and endpoints one after another).
func (m *istioMesh) dial(t *testing.T) *dubbopeer.Client {
	t.Helper()
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), m.consumer, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { assert.Zero(t, c.Mismatches()); _ = c.Close() })
	return c
}

func (m *istioMesh) waitRouting(t *testing.T, c *dubbopeer.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0", Args: []interface{}{"warm-up"}})
		if err == nil && res.Status == dubbopeer.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no route after 30s: %v %+v\n%s", err, res, tail(m.sidecars["consumer"].log.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// instances counts who served n calls.
func instances(t *testing.T, c *dubbopeer.Client, n int, method string, att map[string]string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		res := call(t, c, greetingService, method, []interface{}{"x"}, att)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		seen[res.Attachments["instance"]]++
	}
	return seen
}

func TestIstiodRoutesDubboAndThrift(t *testing.T) {
	t.Parallel()
	m := startIstioMesh(t, func(s string) string {
		return strings.Replace(s, "enableAutoMtls: true", "enableAutoMtls: false", 1)
	})
	c := m.dial(t)
	m.waitRouting(t, c)

	t.Run("dubbo/weights 70/30 (default route, prefix /)", func(t *testing.T) {
		seen := instances(t, c, 200, "greet", nil)
		assert.Equal(t, 200, seen["provider-v1"]+seen["provider-v2"])
		assert.Greater(t, seen["provider-v1"], seen["provider-v2"], "%v", seen)
		assert.Greater(t, seen["provider-v2"], 20, "%v", seen)
	})
	t.Run("dubbo/header exact match (string_match) to a subset", func(t *testing.T) {
		assert.Equal(t, map[string]int{"provider-v2": 20}, instances(t, c, 20, "greet", map[string]string{"x-tag": "gray"}))
	})
	t.Run("dubbo/header present match", func(t *testing.T) {
		assert.Equal(t, map[string]int{"provider-v2": 20}, instances(t, c, 20, "greet", map[string]string{"x-debug": "on"}))
	})
	t.Run("dubbo/header prefix match", func(t *testing.T) {
		assert.Equal(t, map[string]int{"provider-v2": 20}, instances(t, c, 20, "greet", map[string]string{"x-user": "vip-7"}))
		seen := instances(t, c, 60, "greet", map[string]string{"x-user": "vi"})
		assert.NotZero(t, seen["provider-v1"], "a value that is not the prefix falls to the split: %v", seen)
	})
	t.Run("dubbo/uri regex by method with withoutHeaders (invert_match)", func(t *testing.T) {
		assert.Equal(t, map[string]int{"provider-v2": 30}, instances(t, c, 30, "echo", nil))
		seen := instances(t, c, 60, "echo", map[string]string{"x-pin": "v1"})
		assert.NotZero(t, seen["provider-v1"], "the excluded header falls to the split: %v", seen)
	})
	t.Run("dubbo/uri prefix by method with a route timeout", func(t *testing.T) {
		start := time.Now()
		res := call(t, c, greetingService, "sleep", []interface{}{int32(2000)}, nil)
		assert.Equal(t, byte(31), res.Status, "Dubbo's SERVER_TIMEOUT: %s", res.ErrorMessage)
		assert.Less(t, time.Since(start), 3*time.Second, "the route's 300ms, not the client's 5s")
		res = call(t, c, greetingService, "sleep", []interface{}{int32(10)}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	})
	t.Run("dubbo/fault abort answered natively, provider not called", func(t *testing.T) {
		before := m.v1.calls.Load() + m.v2.calls.Load()
		for i := 0; i < 5; i++ {
			res := call(t, c, greetingService, "unavailable", []interface{}{"x"}, nil)
			assert.Equal(t, byte(100), res.Status, "503 as Dubbo's SERVER_THREADPOOL_EXHAUSTED")
			assert.Contains(t, res.ErrorMessage, "unavailable")
		}
		assert.Equal(t, before, m.v1.calls.Load()+m.v2.calls.Load())
	})
	t.Run("dubbo/fault delay", func(t *testing.T) {
		start := time.Now()
		res := call(t, c, greetingService, "delayed", []interface{}{"x"}, nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	})
	t.Run("dubbo/mirror: v1 answers, v2 gets a copy", func(t *testing.T) {
		before := m.v2.calls.Load()
		for i := 0; i < 10; i++ {
			res := call(t, c, greetingService, "mirrored", []interface{}{fmt.Sprint("m", i)}, nil)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "provider-v1", res.Attachments["instance"])
			assert.Equal(t, fmt.Sprint("m", i), res.Value)
		}
		deadline := time.Now().Add(5 * time.Second)
		for m.v2.calls.Load() < before+10 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		assert.Equal(t, before+10, m.v2.calls.Load(), "every mirrored call reached v2 once")
	})
	t.Run("dubbo/retries on a retriable status", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			res := call(t, c, greetingService, "flaky", []interface{}{"x"}, nil)
			require.Equal(t, dubbopeer.StatusOK, res.Status, "the first attempt of every other call fails with 100: %s", res.ErrorMessage)
			assert.Equal(t, "provider-v1", res.Attachments["instance"])
		}
	})
	t.Run("dubbo-go consumer and provider, route-level headers", func(t *testing.T) {
		consumerBin := peerBinary(t, "MESHPROTO_DUBBOGO", "consumer")
		cmd := exec.Command(consumerBin, "-url", "dubbo://"+m.consumer, "-conns", "1", "-n", "10", "-attach", "x-internal=secret", "-attach", "tenant=t3")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		require.NoError(t, cmd.Run(), tail(errOut.String(), 3000))
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		require.Len(t, lines, 10)
		for _, l := range lines {
			var d dubbogoLine
			require.NoError(t, json.Unmarshal([]byte(l), &d))
			require.True(t, d.OK, d.Error)
			assert.Equal(t, "dubbogo-istio", d.User.Instance)
			assert.Equal(t, "istio", d.User.Attachments["x-mesh-route"], "VirtualService headers.request.set")
			assert.Equal(t, "t3", d.User.Attachments["tenant"])
			assert.NotContains(t, d.User.Attachments, "x-internal", "VirtualService headers.request.remove")
		}
	})

	for _, cl := range thriftClients(t) {
		for _, tr := range []string{"framed", "header"} {
			base := []string{"-addr", m.consumer, "-transport", tr, "-protocol", "compact", "-multiplex", "-n", "4"}
			served := func(t *testing.T, args ...string) []thriftLine {
				lines, err := cl.run(t, append(append([]string{}, base...), args...)...)
				require.NoError(t, err)
				require.Len(t, lines, 4)
				for _, l := range lines {
					require.True(t, l.OK, l.Error)
				}
				return lines
			}
			t.Run(fmt.Sprintf("thrift/%s/%s/default route", cl.name, tr), func(t *testing.T) {
				for _, l := range served(t, "-method", "greet") {
					assert.Equal(t, "thrift-v1", l.Instance)
				}
			})
			t.Run(fmt.Sprintf("thrift/%s/%s/uri exact, ignoreUriCase", cl.name, tr), func(t *testing.T) {
				for _, l := range served(t, "-method", "echo", "-name", "hi") {
					assert.Equal(t, "hi", l.Message)
					if tr == "header" {
						assert.Equal(t, "thrift-v2", l.ReplyHeaders["x-served-by"])
					}
				}
			})
			t.Run(fmt.Sprintf("thrift/%s/%s/uri regex, mixed-case service", cl.name, tr), func(t *testing.T) {
				for _, l := range served(t, "-method", "divide", "-a", "12", "-b", "4") {
					require.NotNil(t, l.Result)
					assert.Equal(t, int64(3), *l.Result)
					if tr == "header" {
						assert.Equal(t, "thrift-v2", l.ReplyHeaders["x-served-by"])
					}
				}
				for _, l := range served(t, "-method", "add", "-a", "1", "-b", "2") {
					if tr == "header" {
						assert.Equal(t, "thrift-v1", l.ReplyHeaders["x-served-by"])
					}
				}
			})
			if tr == "header" {
				t.Run(fmt.Sprintf("thrift/%s/header/THeader header prefix match, route sets a header", cl.name), func(t *testing.T) {
					for _, l := range served(t, "-method", "greet", "-header", "x-tag=gray") {
						assert.Equal(t, "thrift-v2", l.Instance)
						assert.Equal(t, "canary", l.Headers["x-mesh-route"])
					}
				})
			}
		}
	}

	t.Run("a VirtualService edited while a client calls: the next calls follow, no error", func(t *testing.T) {
		var errs, v1, v2 atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Errors are counted, not fatal: the loop runs until stop.
		keepCalling(&wg, stop, func(context.Context) error {
			res, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0", Args: []interface{}{"x"}, Attachments: map[string]string{"x-tag": "gray"}})
			switch {
			case err != nil || res.Status != dubbopeer.StatusOK:
				errs.Add(1)
			case res.Attachments["instance"] == "provider-v1":
				v1.Add(1)
			default:
				v2.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
			return nil
		}, nil)
		time.Sleep(300 * time.Millisecond)
		path := filepath.Join(m.configDir, "routes.yaml")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		edited := strings.Replace(string(b), "  - name: canary-by-attachment\n    match:\n    - headers:\n        x-tag: {exact: gray}\n    route:\n    - destination: {host: org.meshproto.demo.GreetingService, subset: v2}",
			"  - name: canary-by-attachment\n    match:\n    - headers:\n        x-tag: {exact: gray}\n    route:\n    - destination: {host: org.meshproto.demo.GreetingService, subset: v1}", 1)
		require.NotEqual(t, string(b), edited, "the canary route is where the test expects it")
		require.NoError(t, os.WriteFile(path+".tmp", []byte(edited), 0o644))
		require.NoError(t, os.Rename(path+".tmp", path))
		movedAt := v1.Load()
		assert.Zero(t, movedAt, "before the edit the canary went to v2 only")
		deadline := time.Now().Add(20 * time.Second)
		for v1.Load() < movedAt+50 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		assert.Zero(t, errs.Load(), "errors while the routes changed")
		assert.Greater(t, v2.Load(), int64(0), "calls before the edit went to v2")
		assert.GreaterOrEqual(t, v1.Load(), movedAt+50, "calls after the edit go to v1")
	})

	for name, proc := range m.sidecars {
		assert.NotContains(t, proc.log.String(), "panic", "sidecar %s", name)
	}
}

// TestIstiodAutoMTLSWithoutSDS: with Istio's default enableAutoMtls and no
// SDS server, a sidecar stops at its first CDS with one message naming the
// switch, instead of a recovered panic and calls failing at random.
func TestIstiodAutoMTLSWithoutSDS(t *testing.T) {
	t.Parallel()
	p := newPorts(t, 20880, 20980, 20990, 21080, 9090, 9190, 15010, 18080, 15017, 15014, 19876)
	_, _ = startIstiod(t, p, nil)
	m := &istioMesh{servicePort: p[20880], sidecars: map[string]*mosnProc{}}
	m.startSidecar(t, "consumer", "127.0.0.1", map[string]string{"app": "consumer"}, p)
	proc := m.sidecars["consumer"]
	select {
	case <-proc.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the sidecar kept running:\n%s", tail(proc.log.String(), 4000))
	}
	logs := proc.log.String()
	assert.Contains(t, logs, `SDS cluster "sds-grpc"`)
	assert.Contains(t, logs, "enableAutoMtls: false")
	assert.NotContains(t, logs, "panic")
	assert.Equal(t, 1, strings.Count(logs, "istiod asks for mutual TLS"), "one message")
}
