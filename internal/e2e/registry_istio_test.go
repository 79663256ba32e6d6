package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
	"github.com/meshproto/meshproto/internal/zktest"
)

// TestRegistryAdapterThroughIstiod: the same registry, served by the
// adapter to a real istiod as Istio resources over MCP-over-xDS
// (configs/registry/istio/mesh.yaml); the consumer sidecar gets
// everything from istiod. Version routing, tag routing with the untagged
// fallback, Dubbo's weights, a provider leaving; the YAML the adapter
// writes beside it.
func TestRegistryAdapterThroughIstiod(t *testing.T) {
	t.Parallel()
	zks := zktest.Start(t)
	const iface = "org.meshproto.demo.ViaIstio"
	mk := func(name, version string) *provider {
		p := &provider{instance: name, version: version, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		p.start(t)
		t.Cleanup(p.stop)
		return p
	}
	v1, v1h, v2, gray := mk("i-v1", "1.0.0"), mk("i-v1-heavy", "1.0.0"), mk("i-v2", "2.0.0"), mk("i-gray", "1.0.0")

	c := zks.Client(t)
	dir := "/dubbo/" + iface + "/providers"
	zktest.Ensure(t, c, dir)
	register := func(p *provider, params ...string) string {
		n := zkProviderNode(iface, p.addr, p.version, params...)
		_, err := c.Create(dir+"/"+n, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		require.NoError(t, err)
		return n
	}
	n1 := register(v1, "weight=100")
	register(v1h, "weight=300")
	register(v2)
	register(gray, "dubbo.tag=gray")

	p := newPorts(t, 20881, 15010, 15030, 18080, 15017, 15014, 19876)
	yamlFile := filepath.Join(t.TempDir(), "istio-registry.yaml")
	a := startAdapter(t, zks.Addr(), p.addr(20881), "-mcp", p.addr(15030), "-istio-yaml", yamlFile)
	_, istiodLog := startIstiodFrom(t, p, "configs/registry/istio/*.yaml", "configs/registry/istio/mesh.yaml", nil)
	m := &istioMesh{sidecars: map[string]*mosnProc{}}
	m.startSidecar(t, "consumer", "127.0.0.1", map[string]string{"app": "consumer"}, p)
	require.NoError(t, waitListening(p.addr(20881), 60*time.Second, m.sidecars["consumer"].done), "consumer sidecar egress listener from istiod")

	cl, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20881), dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { assert.Zero(t, cl.Mismatches()); _ = cl.Close() })
	call := func(version string, att map[string]string) (string, string) {
		res, err := cl.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: iface, Method: "greet", Version: version, Args: []interface{}{"x"}, Attachments: att})
		if err != nil {
			return "", err.Error()
		}
		if res.Status != dubbopeer.StatusOK {
			return "", res.ErrorMessage
		}
		return res.Attachments["instance"], ""
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		who, why := call("2.0.0", nil)
		if who == "i-v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("istiod never routed the registry's services: %s\n%s", why, tail(istiodLog.String(), 4000))
		}
	}
	assert.Equal(t, "1", a.metric(t, "meshproto_registry_mcp_streams"), "istiod connected for MCP")

	t.Run("version and tag routing", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			who, why := call("2.0.0", nil)
			assert.Equal(t, "i-v2", who, why)
			who, why = call("1.0.0", map[string]string{"dubbo.tag": "gray"})
			assert.Equal(t, "i-gray", who, why)
			who, why = call("1.0.0", map[string]string{"dubbo.tag": "blue"})
			assert.Contains(t, []string{"i-v1", "i-v1-heavy"}, who, "no provider tagged blue: the untagged ones: %s", why)
		}
	})

	t.Run("weights 100:300", func(t *testing.T) {
		counts := tally(200, func() (string, string) { return call("1.0.0", nil) })
		t.Logf("version 1.0.0 through istiod: %v (weights 100 and 300)", counts)
		assert.Equal(t, 200, counts["i-v1"]+counts["i-v1-heavy"], "%v", counts)
		assert.InDelta(t, 150, counts["i-v1-heavy"], 25, "%v", counts)
	})

	t.Run("a provider leaves", func(t *testing.T) {
		start := time.Now()
		require.NoError(t, c.Delete(dir+"/"+n1, -1))
		require.Eventually(t, func() bool {
			for i := 0; i < 20; i++ {
				if who, _ := call("1.0.0", nil); who != "i-v1-heavy" {
					return false
				}
			}
			return true
		}, 30*time.Second, 100*time.Millisecond, "v1 gone through istiod")
		t.Logf("through istiod: a deleted provider node stopped taking calls after %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("ZooKeeper down for 10 s, then a change", func(t *testing.T) {
		zks.Stop()
		calls := 0
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			who, why := call("2.0.0", nil)
			require.Equal(t, "i-v2", who, "call %d with ZooKeeper down: %s", calls, why)
			calls++
		}
		t.Logf("through istiod: %d calls with ZooKeeper down, none failed", calls)
		zks.Restart()
		c2 := zks.Client(t)
		v3 := mk("i-v3", "3.0.0")
		_, err := c2.Create(dir+"/"+zkProviderNode(iface, v3.addr, "3.0.0"), nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		require.NoError(t, err)
		require.Eventually(t, func() bool { who, _ := call("3.0.0", nil); return who == "i-v3" }, 30*time.Second, 100*time.Millisecond, "v3 via istiod after the restart")
	})

	t.Run("the YAML beside it", func(t *testing.T) {
		b, err := os.ReadFile(yamlFile)
		require.NoError(t, err)
		y := string(b)
		for _, want := range []string{"kind: ServiceEntry", "kind: WorkloadEntry", "kind: DestinationRule", "kind: VirtualService",
			`hosts: ["` + iface + `"]`, `x-rpc-version: {exact: "2.0.0"}`, `dubbo.tag: {exact: "gray"}`, "weight: 128"} {
			assert.Contains(t, y, want)
		}
		assert.NotContains(t, y, v1.addr[len("127.0.0.1:"):]+"}", "the deleted provider's WorkloadEntry is gone")
	})
}
