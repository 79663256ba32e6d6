package xdsroutes

import (
	"fmt"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
)

// istioAutoMTLSCluster is the shape istiod writes with enableAutoMtls: a
// TLS transport socket match whose certificates come from "sds-grpc".
func istioAutoMTLSCluster(t *testing.T, name string) *anypb.Any {
	t.Helper()
	sds := &tlsv3.SdsSecretConfig{Name: "default", SdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{
		ApiConfigSource: &corev3.ApiConfigSource{ApiType: corev3.ApiConfigSource_GRPC, GrpcServices: []*corev3.GrpcService{{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "sds-grpc"}}}}}}}}
	tc, err := anypb.New(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds}}})
	require.NoError(t, err)
	c := &clusterv3.Cluster{Name: name, TransportSocketMatches: []*clusterv3.Cluster_TransportSocketMatch{
		{Name: "tlsMode-istio", TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tc}}},
		{Name: "tlsMode-disabled", TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.raw_buffer"}},
	}}
	a, err := anypb.New(c)
	require.NoError(t, err)
	return a
}

func TestSDSClusterMissingFromTheBootstrapStopsTheSidecar(t *testing.T) {
	plain, err := anypb.New(&clusterv3.Cluster{Name: "plain"})
	require.NoError(t, err)
	cases := []struct {
		name      string
		bootstrap string
		resources []*anypb.Any
		stops     bool
	}{
		{"auto mTLS, no sds-grpc cluster", `{"clusters": [{"name": "xds-grpc"}]}`, []*anypb.Any{plain, istioAutoMTLSCluster(t, "outbound|20880||svc")}, true},
		{"auto mTLS with the SDS cluster in the bootstrap", `{"clusters": [{"name": "xds-grpc"}, {"name": "sds-grpc"}]}`, []*anypb.Any{istioAutoMTLSCluster(t, "outbound|20880||svc")}, false},
		{"no TLS", `{"clusters": [{"name": "xds-grpc"}]}`, []*anypb.Any{plain}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newSDSRequirement([]byte(tc.bootstrap))
			var msg string
			r.exit = func(f string, a ...interface{}) { msg = fmt.Sprintf(f, a...) }
			r.check(&discoveryv3.DiscoveryResponse{Resources: tc.resources})
			if !tc.stops {
				assert.Empty(t, msg)
				return
			}
			assert.Contains(t, msg, `"sds-grpc" (for outbound|20880||svc)`)
			assert.Contains(t, msg, "enableAutoMtls: false")
		})
	}
}
