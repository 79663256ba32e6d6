package e2e

import (
	"fmt"
	"testing"
	"time"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// xdsBootstrap is everything MOSN gets as a file when Istio manages it:
// one (empty) server for logging, the ADS cluster and the admin port.
// Listeners, routes, clusters and endpoints all come over ADS.
func xdsBootstrap(controlPlane string, controlPort, adminPort int) []byte {
	return []byte(fmt.Sprintf(`{
  "disable_upgrade": true,
  "servers": [{"default_log_path": "stdout", "default_log_level": "WARN", "listeners": []}],
  "dynamic_resources": {
    "lds_config": {"ads": {}, "resource_api_version": "V3"},
    "cds_config": {"ads": {}, "resource_api_version": "V3"},
    "ads_config": {
      "api_type": "GRPC",
      "transport_api_version": "V3",
      "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]
    }
  },
  "static_resources": {
    "clusters": [{
      "name": "xds-grpc",
      "type": "STATIC",
      "connect_timeout": "1s",
      "lb_policy": "RANDOM",
      "http2_protocol_options": {},
      "load_assignment": {
        "cluster_name": "xds-grpc",
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "%s", "port_value": %d}}}}]}]
      }
    }]
  },
  "extends": [{"type": "meshproto_dubbo", "config": {"max_frame_bytes": 8388608}}],
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": %d}}}
}`, controlPlane, controlPort, adminPort))
}

// startXDSMOSN runs build/mosn with a bootstrap and the node identity
// flags istio-agent passes to a sidecar.
func startXDSMOSN(t *testing.T, name string, cfg []byte, node, cluster string, waitFor string) *mosnProc {
	t.Helper()
	return startMOSNArgs(t, mosnBinary, name, cfg, []string{"--service-node", node, "--service-cluster", cluster}, waitFor)
}

// xdsMesh is the state the control plane serves; resources() renders it
// in Istio's shapes.
type xdsMesh struct {
	listenPort uint32
	v1, v2, v3 *provider

	greetV2Only  bool     // RDS: 100% of greet/echo/fail to v2
	greetV1Hosts []string // EDS of the v1 subset cluster ("v1" or "v3")
	orderV3      bool     // CDS: a new cluster for OrderService, RDS points at it
}

const svcPort = 20880

func (m *xdsMesh) ep(p *provider) controlplane.Endpoint {
	host, port := splitAddr(p.addr)
	return controlplane.Endpoint{Host: host, Port: port, Labels: map[string]string{"version": p.version}, Workload: p.instance}
}

func splitAddr(addr string) (string, uint32) {
	var port uint32
	host := "127.0.0.1"
	_, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port)
	if err != nil {
		panic(err)
	}
	return host, port
}

func (m *xdsMesh) resources() controlplane.Resources {
	greetV1 := controlplane.ClusterName(svcPort, "v1", greetingService)
	greetV2 := controlplane.ClusterName(svcPort, "v2", greetingService)
	greetAll := controlplane.ClusterName(svcPort, "", greetingService)
	order := controlplane.ClusterName(svcPort, "", orderService)
	orderV3 := controlplane.ClusterName(svcPort, "v3", orderService)

	byName := map[string]*provider{"v1": m.v1, "v2": m.v2, "v3": m.v3}
	var v1Eps []controlplane.Endpoint
	for _, h := range m.greetV1Hosts {
		v1Eps = append(v1Eps, m.ep(byName[h]))
	}
	orderCluster, orderEps := order, []controlplane.Endpoint{m.ep(m.v1)}
	if m.orderV3 {
		orderCluster, orderEps = orderV3, []controlplane.Endpoint{m.ep(m.v3)}
	}
	clusters := []string{greetV1, greetV2, order}
	if m.orderV3 {
		clusters = append(clusters, orderV3)
	}
	res := controlplane.Resources{}
	for _, c := range clusters {
		res.Clusters = append(res.Clusters, controlplane.EDSCluster(c))
	}
	res.Clusters = append(res.Clusters, controlplane.EDSCluster(greetAll, []string{"version"}))
	res.Endpoints = []*endpoint.ClusterLoadAssignment{
		controlplane.Assignment(greetV1, v1Eps...),
		controlplane.Assignment(greetV2, m.ep(m.v2)),
		controlplane.Assignment(greetAll, m.ep(m.v1), m.ep(m.v2)),
		controlplane.Assignment(order, m.ep(m.v1)),
	}
	if m.orderV3 {
		res.Endpoints = append(res.Endpoints, controlplane.Assignment(orderV3, orderEps...))
	}

	split := controlplane.Action{Weighted: map[string]uint32{greetV1: 80, greetV2: 20}, WeightKeys: []string{greetV1, greetV2},
		Timeout: 3 * time.Second, Retries: 1, PerTry: time.Second}
	if m.greetV2Only {
		split = controlplane.Action{Weighted: map[string]uint32{greetV2: 100}, WeightKeys: []string{greetV2},
			Timeout: 3 * time.Second, Retries: 1, PerTry: time.Second}
	}
	// One catch-all virtual host: without meshproto_metadata (which xDS
	// cannot attach in MOSN v1.3.0) nothing sets x-mosn-host, so services
	// are told apart by the x-rpc-service header instead of by domain.
	vh := controlplane.VirtualHost("meshproto", []string{"*"},
		controlplane.Route("order", controlplane.Action{Cluster: orderCluster}, controlplane.Header("x-rpc-service", orderService)),
		// Istio's canary: a DestinationRule subset is its own cluster.
		controlplane.Route("canary", controlplane.Action{Cluster: greetV2},
			controlplane.Header("x-rpc-service", greetingService), controlplane.Header("x-tag", "gray")),
		// MOSN's subset LB through metadata_match: broken by the conversion.
		controlplane.Route("metadata-match", controlplane.Action{Cluster: greetAll, Subset: map[string]string{"version": "2.0.0"}},
			controlplane.Header("x-rpc-service", greetingService), controlplane.Header("x-tag", "metadata-match")),
		controlplane.Route("by-method", controlplane.Action{Cluster: greetV1, Timeout: time.Second},
			controlplane.Header("x-rpc-service", greetingService), controlplane.Header("x-rpc-method", "sleep")),
		controlplane.Route("split", split,
			controlplane.Header("x-rpc-service", greetingService), controlplane.HeaderRegex("x-rpc-method", "^(greet|echo|fail)$")),
	)
	controlplane.AddRequestHeader(vh, "x-mesh-route", "xds")
	res.Routes = []*route.RouteConfiguration{controlplane.RouteConfig(fmt.Sprint(svcPort), vh)}
	res.Listeners = []*listener.Listener{controlplane.OutboundListener(fmt.Sprintf("127.0.0.1_%d", m.listenPort), "127.0.0.1", m.listenPort, fmt.Sprint(svcPort))}
	return res
}

// newXDSMesh starts the three providers the xDS tests route to; v1 is
// the greet v1 subset's host.
func newXDSMesh(t *testing.T) *xdsMesh {
	m := &xdsMesh{
		listenPort:   uint32(freePort(t)),
		v1:           &provider{instance: "provider-v1", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		v2:           &provider{instance: "provider-v2", version: "2.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		v3:           &provider{instance: "provider-v3", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		greetV1Hosts: []string{"v1"},
	}
	for _, p := range []*provider{m.v1, m.v2, m.v3} {
		p.start(t)
		t.Cleanup(p.stop)
	}
	return m
}

// serve sets the mesh's resources for a sidecar of workload on cp and
// starts that sidecar (build/mosn, configured only over ADS); it returns
// the node ID and the sidecar's listener address.
func (m *xdsMesh) serve(t *testing.T, cp *controlplane.Server, workload string) (string, string) {
	node := fmt.Sprintf("sidecar~127.0.0.1~%s-0.default~default.svc.cluster.local", workload)
	require.NoError(t, cp.Set(node, m.resources()))
	listenAddr := fmt.Sprintf("127.0.0.1:%d", m.listenPort)
	startXDSMOSN(t, "xds-"+workload+"-sidecar", xdsBootstrap("127.0.0.1", cp.Port(), freePort(t)), node, workload+".default", listenAddr)
	return node, listenAddr
}

// dialChecked is a Dubbo client that must end the test with no
// mismatched answer.
func dialChecked(t *testing.T, addr string) *dubbopeer.Client {
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), addr, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, c.Mismatches())
		_ = c.Close()
	})
	return c
}

// TestXDSDubbo configures MOSN only through xDS (LDS/RDS/CDS/EDS from an
// in-process go-control-plane) and checks that Dubbo calls follow it,
// including updates applied under a live client connection.
func TestXDSDubbo(t *testing.T) {
	t.Parallel()
	cp, err := controlplane.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(cp.Close)

	m := newXDSMesh(t)
	node, listenAddr := m.serve(t, cp, "consumer")
	c := dialChecked(t, listenAddr)
	local := c.LocalAddr().String()
	try := func(service, method string, arg interface{}, att map[string]string) (*dubbopeer.Result, error) {
		return c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{
			Service: service, Method: method, Version: "1.0.0", Args: []interface{}{arg}, Attachments: att,
		})
	}
	// eventually polls until served returns true (an xDS push is async).
	eventually := func(what string, served func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if served() {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: not applied after 15s", what)
	}
	instanceOf := func(service, method string, att map[string]string) string {
		res, err := try(service, method, "x", att)
		if err != nil || res.Status != dubbopeer.StatusOK {
			return ""
		}
		return res.Attachments["instance"]
	}
	// The first LDS/RDS push may land a moment after the port opens.
	eventually("initial config", func() bool { return instanceOf(orderService, "place", nil) == "provider-v1" })

	t.Run("route by service header, vhost headers added", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			res, err := try(orderService, "place", "book", nil)
			require.NoError(t, err)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "book", res.Value)
			assert.Equal(t, "provider-v1", res.Attachments["instance"])
			assert.Equal(t, "xds", res.Attachments["seen-x-mesh-route"], "virtual host request_headers_to_add")
		}
	})

	t.Run("route by method; the route timeout applies without a filter", func(t *testing.T) {
		res, err := try(greetingService, "sleep", int32(1), nil)
		require.NoError(t, err)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "provider-v1", res.Attachments["instance"])
		// The route says 1s, the client 5s: meshproto's route handler
		// enforces the smaller one.
		res, err = try(greetingService, "sleep", int32(1300), nil)
		require.NoError(t, err)
		assert.Equal(t, byte(31), res.Status, "Dubbo SERVER_TIMEOUT from the route's 1s: %s", res.ErrorMessage)
	})

	t.Run("route by attachment to a subset cluster", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			res, err := try(greetingService, "greet", "gray user", map[string]string{"x-tag": "gray"})
			require.NoError(t, err)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "provider-v2", res.Attachments["instance"])
			assert.Equal(t, "gray", res.Attachments["seen-x-tag"])
		}
	})

	t.Run("metadata_match from xDS picks the subset", func(t *testing.T) {
		// MOSN's converter adds the whole "envoy.lb" struct as one more
		// key; meshproto's converter reads its fields, as Envoy does.
		for i := 0; i < 10; i++ {
			res, err := try(greetingService, "greet", "x", map[string]string{"x-tag": "metadata-match"})
			require.NoError(t, err)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			assert.Equal(t, "provider-v2", res.Attachments["instance"])
		}
	})

	t.Run("weighted split 80/20", func(t *testing.T) {
		counts := map[string]int{}
		const n = 400
		for i := 0; i < n; i++ {
			res, err := try(greetingService, "greet", fmt.Sprint(i), nil)
			require.NoError(t, err)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			counts[res.Attachments["instance"]]++
		}
		t.Logf("split: %v", counts)
		assert.InDelta(t, 0.8, float64(counts["provider-v1"])/n, 0.08)
		assert.InDelta(t, 0.2, float64(counts["provider-v2"])/n, 0.08)
	})

	t.Run("RDS update applies on the same connection", func(t *testing.T) {
		m.greetV2Only = true
		require.NoError(t, cp.Set(node, m.resources()))
		// every call succeeds while the route changes under it
		deadline := time.Now().Add(15 * time.Second)
		switched := false
		for !switched && time.Now().Before(deadline) {
			res, err := try(greetingService, "greet", "during", nil)
			require.NoError(t, err)
			require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
			if res.Attachments["instance"] == "provider-v2" {
				// 20 in a row on v2 means the 80/20 split is gone
				switched = true
				for i := 0; i < 20 && switched; i++ {
					res, err := try(greetingService, "greet", "after", nil)
					require.NoError(t, err)
					require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
					switched = res.Attachments["instance"] == "provider-v2"
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.True(t, switched, "100%% to v2 not applied after 15s")
		for i := 0; i < 100; i++ {
			res, err := try(greetingService, "greet", "after", nil)
			require.NoError(t, err)
			require.Equal(t, "provider-v2", res.Attachments["instance"])
		}
		assert.Equal(t, local, c.LocalAddr().String())
		select {
		case <-c.Done():
			t.Fatalf("client connection closed: %v", c.Err())
		default:
		}
	})

	t.Run("EDS update adds then removes endpoints", func(t *testing.T) {
		m.greetV2Only = false
		m.greetV1Hosts = []string{"v1", "v3"}
		require.NoError(t, cp.Set(node, m.resources()))
		seen := map[string]bool{}
		eventually("v3 added to the v1 cluster", func() bool {
			seen[instanceOf(greetingService, "sleep", nil)] = true
			return seen["provider-v3"] && seen["provider-v1"]
		})
		m.greetV1Hosts = []string{"v3"}
		require.NoError(t, cp.Set(node, m.resources()))
		eventually("v1 removed", func() bool {
			for i := 0; i < 10; i++ {
				if instanceOf(greetingService, "sleep", nil) != "provider-v3" {
					return false
				}
			}
			return true
		})
	})

	t.Run("CDS update adds a cluster", func(t *testing.T) {
		m.orderV3 = true
		require.NoError(t, cp.Set(node, m.resources()))
		eventually("order to the new cluster", func() bool {
			for i := 0; i < 10; i++ {
				if instanceOf(orderService, "place", nil) != "provider-v3" {
					return false
				}
			}
			return true
		})
	})

	select {
	case <-c.Done():
		t.Fatalf("client connection closed: %v", c.Err())
	default:
	}
	assert.Equal(t, local, c.LocalAddr().String(), "one client connection for the whole test")
}

// TestXDSConnectionBeforeRoutes is the window every Istio sidecar goes
// through at start: the listener has come by LDS, its routes (RDS) have
// not. A client that connects in that window gets "no route" answers
// (SERVICE_NOT_FOUND) until the routes come, and then the same
// connection routes. Stock MOSN v1.3.0 keeps such a connection routeless
// for as long as it lives (its proxy looks the route table up once, when
// the connection is accepted); internal/rdsready is what fixes it.
func TestXDSConnectionBeforeRoutes(t *testing.T) {
	t.Parallel()
	cp, err := controlplane.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(cp.Close)
	cp.HoldRoutes()
	t.Cleanup(cp.ReleaseRoutes)

	m := newXDSMesh(t)
	_, listenAddr := m.serve(t, cp, "early")

	// The listener accepts: LDS is applied, RDS is held.
	c := dialChecked(t, listenAddr)
	local := c.LocalAddr().String()
	greet := func() *dubbopeer.Result {
		res, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{
			Service: orderService, Method: "greet", Version: "1.0.0", Args: []interface{}{"early"}})
		require.NoError(t, err, "answered, not dropped")
		return res
	}
	for i := 0; i < 3; i++ {
		res := greet()
		assert.Equal(t, byte(60), res.Status, "no routes yet: SERVICE_NOT_FOUND (%s)", res.ErrorMessage)
	}

	cp.ReleaseRoutes()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := greet()
		if res.Status == dubbopeer.StatusOK {
			assert.Equal(t, "provider-v1", res.Attachments["instance"])
			break
		}
		require.True(t, time.Now().Before(deadline), "the connection accepted before RDS never routed: %d %s", res.Status, res.ErrorMessage)
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		res := greet()
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	}
	assert.Equal(t, local, c.LocalAddr().String(), "the same connection throughout")
}
