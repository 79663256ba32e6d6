package mosnapp

// The blank imports below register the parts of stock MOSN v1.3.0 that
// meshproto users rely on. Each one registers itself in an init function.
// Left out on purpose: seata, wazero and wasmer (their modules are not served
// by the module proxy, or need cgo libraries), and MOSN's own dubbo codec and
// dubbo_stream filter (they would clash with meshproto's "dubbo").
import (
	// pprof on MOSN's debug port ("pprof": {"debug": true}), as stock MOSN has.
	_ "net/http/pprof"

	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "mosn.io/mosn/istio/istio1106"
	_ "mosn.io/mosn/istio/istio1106/filter/stream/stats"
	_ "mosn.io/mosn/istio/istio1106/sds" // MOSN's SDS client: without it a TLS context from xDS panics
	_ "mosn.io/mosn/istio/istio1106/xds"
	_ "mosn.io/mosn/pkg/filter/listener/originaldst"
	_ "mosn.io/mosn/pkg/filter/network/connectionmanager"
	_ "mosn.io/mosn/pkg/filter/network/proxy"
	_ "mosn.io/mosn/pkg/filter/network/streamproxy"
	_ "mosn.io/mosn/pkg/filter/stream/faultinject"
	_ "mosn.io/mosn/pkg/filter/stream/faulttolerance"
	_ "mosn.io/mosn/pkg/filter/stream/flowcontrol"
	_ "mosn.io/mosn/pkg/filter/stream/headertometadata"
	_ "mosn.io/mosn/pkg/filter/stream/ipaccess"
	_ "mosn.io/mosn/pkg/filter/stream/mirror"
	_ "mosn.io/mosn/pkg/filter/stream/payloadlimit"
	_ "mosn.io/mosn/pkg/metrics/sink"
	_ "mosn.io/mosn/pkg/metrics/sink/prometheus"
	_ "mosn.io/mosn/pkg/network"
	_ "mosn.io/mosn/pkg/protocol"
	_ "mosn.io/mosn/pkg/protocol/xprotocol"
	_ "mosn.io/mosn/pkg/router"
	_ "mosn.io/mosn/pkg/server/keeper"
	_ "mosn.io/mosn/pkg/stream/http"
	_ "mosn.io/mosn/pkg/stream/http2"
	_ "mosn.io/mosn/pkg/stream/xprotocol"
	_ "mosn.io/mosn/pkg/upstream/healthcheck"
	_ "mosn.io/pkg/buffer"
)
