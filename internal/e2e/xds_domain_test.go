package e2e

import (
	"fmt"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// meshprotoHTTPFilter is what an Istio EnvoyFilter inserts before the
// router: a meshproto stream filter with its JSON config in a TypedStruct.
func meshprotoHTTPFilter(t *testing.T, name string, config map[string]interface{}) *hcm.HttpFilter {
	f, err := controlplane.MeshprotoFilter(name, config)
	require.NoError(t, err)
	return f
}

// TestXDSDomainRouting is the Istio shape: one virtual host per service
// (domains = service names), with meshproto_metadata inserted into the
// listener's HTTP filters from xDS, so MOSN picks the virtual host by the
// request's service and enforces the route timeout; Dubbo and Thrift on
// the same listener (protocol Auto).
func TestXDSDomainRouting(t *testing.T) {
	t.Parallel()
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	clients := thriftClients(t)
	cp, err := controlplane.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(cp.Close)

	v1 := &provider{instance: "provider-v1", version: "1.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	v2 := &provider{instance: "provider-v2", version: "2.0.0", addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	for _, p := range []*provider{v1, v2} {
		p.start(t)
		t.Cleanup(p.stop)
	}
	thriftAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startPeer(t, "thrift-server", server, "-addr", thriftAddr, "-transport", "header", "-multiplex", "-instance", "thrift-xds")
	thrift2Addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startPeer(t, "thrift-server-2", server, "-addr", thrift2Addr, "-transport", "header", "-multiplex", "-instance", "thrift-xds-2")

	listenPort := uint32(freePort(t))
	greet := controlplane.ClusterName(svcPort, "v1", greetingService)
	order := controlplane.ClusterName(svcPort, "v2", orderService)
	greeter := controlplane.ClusterName(9090, "", "greeter.thrift")
	greeter2 := controlplane.ClusterName(9090, "v2", "greeter.thrift")
	ep := func(addr, version string) controlplane.Endpoint {
		host, port := splitAddr(addr)
		return controlplane.Endpoint{Host: host, Port: port, Labels: map[string]string{"version": version}}
	}
	// Istio's shape: one virtual host per service, domains = service names.
	routes := func(greeterCluster string) []*route.RouteConfiguration {
		return []*route.RouteConfiguration{controlplane.RouteConfig(fmt.Sprint(svcPort),
			controlplane.VirtualHost("greeting", []string{greetingService},
				controlplane.Route("sleep", controlplane.Action{Cluster: greet, Timeout: time.Second}, controlplane.Header("x-rpc-method", "sleep")),
				controlplane.Route("default", controlplane.Action{Cluster: greet, Timeout: 3 * time.Second})),
			controlplane.VirtualHost("order", []string{orderService},
				controlplane.Route("default", controlplane.Action{Cluster: order, Timeout: 3 * time.Second})),
			controlplane.VirtualHost("greeter", []string{"Greeter"},
				controlplane.Route("default", controlplane.Action{Cluster: greeterCluster, Timeout: 3 * time.Second})),
		)}
	}
	res := controlplane.Resources{
		Clusters: []*cluster.Cluster{controlplane.EDSCluster(greet), controlplane.EDSCluster(order), controlplane.EDSCluster(greeter), controlplane.EDSCluster(greeter2)},
		Endpoints: []*endpoint.ClusterLoadAssignment{
			controlplane.Assignment(greet, ep(v1.addr, "1.0.0")),
			controlplane.Assignment(order, ep(v2.addr, "2.0.0")),
			controlplane.Assignment(greeter, ep(thriftAddr, "1.0.0")),
			controlplane.Assignment(greeter2, ep(thrift2Addr, "2.0.0")),
		},
		Routes: routes(greeter),
		Listeners: []*listener.Listener{controlplane.OutboundListener(fmt.Sprintf("127.0.0.1_%d", listenPort), "127.0.0.1", listenPort, fmt.Sprint(svcPort),
			meshprotoHTTPFilter(t, "meshproto_metadata", map[string]interface{}{"host": "{service}"}))},
	}
	const node = "sidecar~127.0.0.1~consumer-1.default~default.svc.cluster.local"
	require.NoError(t, cp.Set(node, res))
	listenAddr := fmt.Sprintf("127.0.0.1:%d", listenPort)
	startXDSMOSN(t, "xds-domain-sidecar", xdsBootstrap("127.0.0.1", cp.Port(), freePort(t)), node, "consumer.default", listenAddr)

	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), listenAddr, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	t.Run("dubbo virtual host by service domain", func(t *testing.T) {
		res := call(t, c, greetingService, "greet", []interface{}{"a"}, nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "provider-v1", res.Attachments["instance"])
		res = call(t, c, orderService, "place", []interface{}{"b"}, nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "provider-v2", res.Attachments["instance"])
		res = call(t, c, "org.example.Missing", "x", nil, nil)
		assert.Equal(t, byte(60), res.Status, "no virtual host: SERVICE_NOT_FOUND")
	})
	t.Run("route timeout from xDS is enforced", func(t *testing.T) {
		start := time.Now()
		res := call(t, c, greetingService, "sleep", []interface{}{int32(2500)}, nil)
		assert.Equal(t, byte(31), res.Status, res.ErrorMessage)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
	for _, tc := range clients {
		tc := tc
		t.Run("thrift/"+tc.name+" on the same listener by service domain", func(t *testing.T) {
			for _, kind := range [][2]string{{"framed", "binary"}, {"header", "compact"}} {
				lines, err := tc.run(t, "-addr", listenAddr, "-transport", kind[0], "-protocol", kind[1], "-multiplex", "-method", "greet", "-name", "xds", "-n", "3")
				require.NoError(t, err)
				require.Len(t, lines, 3)
				for _, l := range lines {
					require.True(t, l.OK, l.Error)
					assert.Equal(t, "thrift-xds", l.Instance)
				}
			}
		})
	}
	t.Run("thrift RDS update moves Greeter to another backend", func(t *testing.T) {
		updated := res
		updated.Routes = routes(greeter2)
		require.NoError(t, cp.Set(node, updated))
		require.Eventually(t, func() bool {
			lines, err := clients[0].run(t, "-addr", listenAddr, "-transport", "framed", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "u")
			return err == nil && len(lines) == 1 && lines[0].Instance == "thrift-xds-2"
		}, 10*time.Second, 100*time.Millisecond)
		// The Dubbo client's connection from before the update still works.
		res := call(t, c, greetingService, "greet", []interface{}{"after"}, nil)
		assert.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	})
}
