package istiomcp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// mcpResourceType is the type of every resource in an MCP-over-xDS
// response: istio.mcp.v1alpha1.Resource {metadata, body}.
const mcpResourceType = "type.googleapis.com/istio.mcp.v1alpha1.Resource"

// Server serves MCP over xDS: istiod connects as an ADS client and asks
// for every config kind it knows (type URLs such as
// "networking.istio.io/v1/ServiceEntry"); the kinds this package writes
// are answered with the current objects, every other kind with an empty
// list (istiod waits until every kind it asked for has been answered).
type Server struct {
	grpc *grpc.Server
	ln   net.Listener
	logf func(string, ...interface{})

	mu      sync.Mutex
	objects map[Kind][]*anypb.Any
	version map[Kind]string
	streams map[*mcpStream]bool
	nonce   atomic.Uint64
	acks    atomic.Int64
	nacks   atomic.Int64
}

// Start serves on addr.
func Start(addr string, logf func(string, ...interface{})) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("istiomcp: %w", err)
	}
	if logf == nil {
		logf = func(string, ...interface{}) {}
	}
	s := &Server{grpc: grpc.NewServer(), ln: ln, logf: logf, objects: map[Kind][]*anypb.Any{}, version: map[Kind]string{}, streams: map[*mcpStream]bool{}}
	discovery.RegisterAggregatedDiscoveryServiceServer(s.grpc, s)
	go func() { _ = s.grpc.Serve(ln) }()
	return s, nil
}

// Addr is where it listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving.
func (s *Server) Close() { s.grpc.Stop() }

// Streams is the number of connected istiods.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Set replaces the served objects; kinds whose content changed are pushed.
func (s *Server) Set(objs []Object) {
	byKind := map[Kind][]*anypb.Any{}
	hashes := map[Kind][]byte{}
	for _, o := range objs {
		body := o.Spec.proto()
		var md []byte
		md = str(md, 1, o.Namespace+"/"+o.Name)
		sum := sha256.Sum256(body)
		md = str(md, 3, hex.EncodeToString(sum[:8])) // version
		var r []byte
		r = msg(r, 1, md)
		var anyBody []byte
		anyBody = str(anyBody, 1, o.Spec.typeURL())
		anyBody = protowire.AppendTag(anyBody, 2, protowire.BytesType)
		anyBody = protowire.AppendBytes(anyBody, body)
		r = msg(r, 2, anyBody)
		byKind[o.Kind] = append(byKind[o.Kind], &anypb.Any{TypeUrl: mcpResourceType, Value: r})
		hashes[o.Kind] = append(hashes[o.Kind], r...)
		hashes[o.Kind] = append(hashes[o.Kind], 0xff)
	}
	s.mu.Lock()
	var changed []Kind
	for _, k := range Kinds {
		sum := sha256.Sum256(hashes[k])
		v := hex.EncodeToString(sum[:8])
		if s.version[k] != v {
			s.version[k] = v
			changed = append(changed, k)
		}
		s.objects[k] = byKind[k]
	}
	streams := make([]*mcpStream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	if len(changed) > 0 {
		for _, st := range streams {
			st.poke()
		}
	}
}

// kindOf maps a requested type URL to a kind this package writes.
func kindOf(typeURL string) (Kind, bool) {
	i := strings.LastIndexByte(typeURL, '/')
	k := Kind(typeURL[i+1:])
	for _, x := range Kinds {
		if x == k && strings.HasPrefix(typeURL, "networking.istio.io/") {
			return k, true
		}
	}
	return "", false
}

type mcpStream struct {
	wake chan struct{}
	sent map[string]string // type URL -> version sent (the stream's goroutine only)
}

func (st *mcpStream) poke() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// StreamAggregatedResources serves one istiod.
func (s *Server) StreamAggregatedResources(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	st := &mcpStream{wake: make(chan struct{}, 1), sent: map[string]string{}}
	s.mu.Lock()
	s.streams[st] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
	}()
	reqs := make(chan *discovery.DiscoveryRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- r:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	subscribed := map[string]bool{}
	var node *core.Node
	for {
		select {
		case err := <-errc:
			return err
		case <-stream.Context().Done():
			return nil
		case r := <-reqs:
			if r.Node != nil && node == nil {
				node = r.Node
				s.logf("istiod %s connected for MCP", node.GetId())
			}
			t := r.GetTypeUrl()
			if r.ErrorDetail != nil {
				s.nacks.Add(1)
				s.logf("istiod rejected %s version %s: %s", t, r.GetVersionInfo(), r.ErrorDetail.GetMessage())
				continue
			}
			if r.ResponseNonce != "" {
				s.acks.Add(1)
			}
			first := !subscribed[t]
			subscribed[t] = true
			if !first {
				continue // an ACK; changes are pushed by Set
			}
			if err := s.send(stream, st, t); err != nil {
				return err
			}
		case <-st.wake:
			for t := range subscribed {
				if err := s.send(stream, st, t); err != nil {
					return err
				}
			}
		}
	}
}

// send answers typeURL with the current objects when that version has not
// been sent on this stream yet.
func (s *Server) send(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer, st *mcpStream, typeURL string) error {
	s.mu.Lock()
	kind, ours := kindOf(typeURL)
	version := "empty"
	var resources []*anypb.Any
	if ours {
		version, resources = s.version[kind], s.objects[kind]
	}
	s.mu.Unlock()
	if st.sent[typeURL] == version {
		return nil
	}
	st.sent[typeURL] = version
	resp := &discovery.DiscoveryResponse{TypeUrl: typeURL, VersionInfo: version, Resources: resources,
		Nonce: fmt.Sprint(s.nonce.Add(1))}
	if err := stream.Send(resp); err != nil {
		return fmt.Errorf("istiomcp: send %s: %w", typeURL, err)
	}
	return nil
}

// DeltaAggregatedResources is not offered; istiod's MCP client uses the
// state-of-the-world stream.
func (s *Server) DeltaAggregatedResources(discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return errors.New("istiomcp: delta xDS is not served")
}
