// Package connlimit is the meshproto_conn_limit stream filter: a cap on
// the requests one downstream connection may have in flight at once.
//
// Dubbo and Thrift clients pipeline, so one misbehaving client can hold
// every worker of the proxy. Above the cap a request is answered at once
// with a protocol-native "overloaded" error (Dubbo status 100, Thrift
// INTERNAL_ERROR by default); the connection stays open. Counters are kept
// per connection id and removed when a connection's count is back to zero,
// so closed connections leave nothing behind.
//
//	{"type": "meshproto_conn_limit", "config": {"max_in_flight": 256,
//	  "error": {"http_status": 503, "native": {"dubbo": 100, "thrift": 6}}}}
package connlimit

import (
	"context"
	"fmt"
	"sync"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_conn_limit"

// DefaultMaxInFlight is generous: Dubbo clients pipeline a few hundred calls.
const DefaultMaxInFlight = 1024

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
	xdsconf.Register(FilterName)
}

// Config of meshproto_conn_limit.
type Config struct {
	MaxInFlight int                 `json:"max_in_flight,omitempty"`
	Error       rpcmeta.ErrorConfig `json:"error,omitempty"`
}

// CreateFilterFactory parses the config (also the Go plugin entry point).
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return nil, err
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxInFlight < 1 {
		return nil, fmt.Errorf("%s: config: max_in_flight %d must be positive", FilterName, c.MaxInFlight)
	}
	if c.Error.HTTPStatus == 0 {
		c.Error.HTTPStatus = api.UpstreamOverFlowCode
	}
	if err := c.Error.Validate("error"); err != nil {
		return nil, fmt.Errorf("%s: config: %w", FilterName, err)
	}
	return &Factory{cfg: c, inFlight: map[uint64]int{}}, nil
}

// Factory holds the counters of one listener's connections.
type Factory struct {
	cfg      Config
	mu       sync.Mutex
	inFlight map[uint64]int
	rejected uint64
}

// CreateFilterChain adds one pooled per-stream filter.
func (f *Factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	fl := filters.Get().(*filter)
	fl.factory = f
	callbacks.AddStreamReceiverFilter(fl, api.BeforeRoute)
}

// InFlight reports a connection's count and the connections tracked.
func (f *Factory) InFlight(conn uint64) (count, conns int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight[conn], len(f.inFlight)
}

// Rejected counts requests answered with the overload error.
func (f *Factory) Rejected() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rejected
}

// acquire counts a request on conn; false when the connection is at its cap.
func (f *Factory) acquire(conn uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inFlight[conn] >= f.cfg.MaxInFlight {
		f.rejected++
		return false
	}
	f.inFlight[conn]++
	return true
}

func (f *Factory) release(conn uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.inFlight[conn] - 1; n > 0 {
		f.inFlight[conn] = n
	} else {
		delete(f.inFlight, conn)
	}
}

type filter struct {
	factory  *Factory
	handler  api.StreamReceiverFilterHandler
	conn     uint64
	acquired bool
}

var filters = sync.Pool{New: func() interface{} { return new(filter) }}

func (fl *filter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { fl.handler = h }

// OnReceive counts the request against its connection, or answers it.
func (fl *filter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok || fl.handler == nil || fl.handler.Connection() == nil {
		return api.StreamFilterContinue
	}
	fl.conn = fl.handler.Connection().ID()
	if fl.factory.acquire(fl.conn) {
		fl.acquired = true
		return api.StreamFilterContinue
	}
	errCfg := fl.factory.cfg.Error
	if errCfg.Message == "" {
		errCfg.Message = fmt.Sprintf("meshproto: connection has %d requests in flight (max_in_flight)", fl.factory.cfg.MaxInFlight)
	}
	rpcmeta.Respond(ctx, fl.handler, req, errCfg, api.UpstreamOverFlowCode)
	return api.StreamFilterStop
}

// OnDestroy releases the request's slot; MOSN calls it once per stream.
func (fl *filter) OnDestroy() {
	if fl.acquired {
		fl.factory.release(fl.conn)
	}
	*fl = filter{}
	filters.Put(fl)
}
