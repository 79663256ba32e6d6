// Package controlplane is meshproto's xDS control plane: a
// go-control-plane snapshot cache served as ADS over gRPC, and builders
// for LDS/RDS/CDS/EDS resources in the shapes Istio generates. The
// registry adapter (plugins/registry-adapter) serves it to sidecars; the
// end-to-end tests drive the same server directly. MOSN's Istio xDS
// client (mosn.io/mosn/istio/istio1106) connects to it exactly as it
// connects to istiod.
//
// Every Set replaces the whole configuration of one node; only the resource
// types whose content changed get a new version, so MOSN sees an RDS
// update as an RDS push alone (listeners are not re-pushed and existing
// connections stay open).
package controlplane

import (
	"context"
	"fmt"
	"net"
	"sync"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resource "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	server "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Resources is the whole xDS configuration of one node.
type Resources struct {
	Listeners []*listener.Listener
	Routes    []*route.RouteConfiguration
	Clusters  []*cluster.Cluster
	Endpoints []*endpoint.ClusterLoadAssignment
}

// Server is a running control plane.
type Server struct {
	cache cache.SnapshotCache
	grpc  *grpc.Server
	ln    net.Listener
	cb    *callbacks

	mu   sync.Mutex
	last map[string]map[string]typeState // node -> type URL -> state
}

type typeState struct {
	version int
	content []byte
}

// Start serves ADS on addr ("127.0.0.1:0" for any free port); every node
// gets the configuration Set for its own node ID.
func Start(addr string) (*Server, error) { return start(addr, cache.IDHash{}) }

// AnyNode is the node name under which StartShared's configuration is Set.
const AnyNode = "*"

// StartShared serves ADS on addr with one configuration for every node
// (Set it for AnyNode): a registry's view is the same for all sidecars.
func StartShared(addr string) (*Server, error) { return start(addr, sharedHash{}) }

type sharedHash struct{}

func (sharedHash) ID(*core.Node) string { return AnyNode }

func start(addr string, hash cache.NodeHash) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cache: cache.NewSnapshotCache(false, hash, nil),
		grpc:  grpc.NewServer(),
		ln:    ln,
		cb:    &callbacks{requests: map[string]int{}},
		last:  map[string]map[string]typeState{},
	}
	xs := server.NewServer(context.Background(), s.cache, s.cb)
	discovery.RegisterAggregatedDiscoveryServiceServer(s.grpc, xs)
	go func() { _ = s.grpc.Serve(ln) }()
	return s, nil
}

// Addr is the address the control plane listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the port the control plane listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops serving and closes every stream.
func (s *Server) Close() { s.grpc.Stop() }

// Streams is the number of ADS streams open now (connected sidecars).
func (s *Server) Streams() int { return s.cb.open() }

// Requests counts the discovery requests received for a type URL (ACKs
// included), so a test can wait until a proxy has acknowledged an update.
func (s *Server) Requests(typeURL string) int { return s.cb.count(typeURL) }

// Set makes r the configuration of node. A resource type keeps its version
// when its content did not change, so only the changed types are pushed.
func (s *Server) Set(node string, r Resources) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	states := s.last[node]
	if states == nil {
		states = map[string]typeState{}
		s.last[node] = states
	}
	byType := map[string][]types.Resource{
		resource.ListenerType: toResources(r.Listeners),
		resource.RouteType:    toResources(r.Routes),
		resource.ClusterType:  toResources(r.Clusters),
		resource.EndpointType: toResources(r.Endpoints),
	}
	var snap cache.Snapshot
	for typeURL, items := range byType {
		content, err := marshalAll(items)
		if err != nil {
			return fmt.Errorf("xds: %s: %w", typeURL, err)
		}
		st := states[typeURL]
		if st.version == 0 || string(st.content) != string(content) {
			st.version++
			st.content = content
			states[typeURL] = st
		}
		snap.Resources[cache.GetResponseType(typeURL)] = cache.NewResources(fmt.Sprintf("%d", st.version), items)
	}
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("xds: inconsistent snapshot: %w", err)
	}
	return s.cache.SetSnapshot(context.Background(), node, snap)
}

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, 0, len(in))
	for _, r := range in {
		out = append(out, r)
	}
	return out
}

func marshalAll(items []types.Resource) ([]byte, error) {
	var all []byte
	opts := proto.MarshalOptions{Deterministic: true}
	for _, it := range items {
		b, err := opts.Marshal(it)
		if err != nil {
			return nil, err
		}
		all = append(all, b...)
		all = append(all, 0xff)
	}
	return all, nil
}

// HoldRoutes makes the server sit on route (RDS) requests until
// ReleaseRoutes: a test can then open connections to a listener that
// has come by LDS while its routes have not, the window every Istio
// sidecar goes through at start.
func (s *Server) HoldRoutes() {
	s.cb.mu.Lock()
	defer s.cb.mu.Unlock()
	if s.cb.routesHeld == nil {
		s.cb.routesHeld = make(chan struct{})
	}
}

// ReleaseRoutes answers the held route requests and stops holding.
func (s *Server) ReleaseRoutes() {
	s.cb.mu.Lock()
	defer s.cb.mu.Unlock()
	if s.cb.routesHeld != nil {
		close(s.cb.routesHeld)
		s.cb.routesHeld = nil
	}
}

// callbacks counts requests per type.
type callbacks struct {
	mu         sync.Mutex
	requests   map[string]int
	streams    int
	routesHeld chan struct{} // non-nil: RDS requests wait for its close
}

func (c *callbacks) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams
}

func (c *callbacks) count(typeURL string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[typeURL]
}

func (c *callbacks) OnStreamOpen(context.Context, int64, string) error {
	c.mu.Lock()
	c.streams++
	c.mu.Unlock()
	return nil
}
func (c *callbacks) OnStreamClosed(int64) {
	c.mu.Lock()
	c.streams--
	c.mu.Unlock()
}
func (c *callbacks) OnStreamRequest(_ int64, req *discovery.DiscoveryRequest) error {
	c.mu.Lock()
	c.requests[req.GetTypeUrl()]++
	held := c.routesHeld
	c.mu.Unlock()
	if held != nil && req.GetTypeUrl() == resource.RouteType {
		<-held
	}
	return nil
}
func (c *callbacks) OnStreamResponse(context.Context, int64, *discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {
}
func (c *callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error         { return nil }
func (c *callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
func (c *callbacks) OnDeltaStreamOpen(context.Context, int64, string) error                    { return nil }
func (c *callbacks) OnDeltaStreamClosed(int64)                                                 {}
func (c *callbacks) OnStreamDeltaRequest(int64, *discovery.DeltaDiscoveryRequest) error {
	return nil
}
func (c *callbacks) OnStreamDeltaResponse(int64, *discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse) {
}
