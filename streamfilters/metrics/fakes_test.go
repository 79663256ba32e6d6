package metrics

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"mosn.io/api"
	mosnmetrics "mosn.io/mosn/pkg/metrics"
	"mosn.io/mosn/pkg/protocol"
	_ "mosn.io/mosn/pkg/proxy" // registers x-mosn-status, which the proxy sets on a hijack
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/filtertest"
)

// fakeRequest is an rpcmeta.Request; it also answers the two api.XFrame
// methods the filter looks at. Like the real codecs (one Frame type for
// both directions) it is an rpcmeta.Response too, with status 0: that is
// what the sender filters get when the proxy hijacks the stream.
type fakeRequest struct {
	filtertest.Request
	oneway, heartbeat bool
}

func (r *fakeRequest) IsHeartbeatFrame() bool { return r.heartbeat }
func (r *fakeRequest) NativeStatus() uint32   { return 0 }
func (r *fakeRequest) Succeeded() bool        { return false }
func (r *fakeRequest) GetStreamType() api.StreamType {
	if r.oneway {
		return api.RequestOneWay
	}
	return api.Request
}

var (
	_ rpcmeta.Request  = (*fakeRequest)(nil)
	_ rpcmeta.Response = (*fakeRequest)(nil)
)

func newReq(proto, service, method string) *fakeRequest {
	return &fakeRequest{Request: *filtertest.NewRequest(proto, service, method)}
}

// newResp is an rpcmeta.Response of stream type api.Response.
func newResp(proto string, status uint32, ok bool) *filtertest.TypedResponse {
	return &filtertest.TypedResponse{
		Response:   filtertest.Response{CommonHeader: protocol.CommonHeader{}, Proto: proto, Status: status, OK: ok},
		StreamType: api.Response,
	}
}

// fakeInfo is the stream's RequestInfo: start time and MOSN's response code.
type fakeInfo struct {
	api.RequestInfo
	start time.Time
	code  int
}

func (i *fakeInfo) StartTime() time.Time { return i.start }
func (i *fakeInfo) ResponseCode() int    { return i.code }

type fakeReceiverHandler struct {
	api.StreamReceiverFilterHandler
	info *fakeInfo
}

func (h *fakeReceiverHandler) RequestInfo() api.RequestInfo { return h.info }

type fakeSenderHandler struct {
	api.StreamSenderFilterHandler
	info *fakeInfo
}

func (h *fakeSenderHandler) RequestInfo() api.RequestInfo { return h.info }

// fakeStream plays MOSN's proxy for one stream: it builds the filter chain
// as the proxy does (handlers set on Add), runs the phases, and destroys
// every filter, receivers first, as DefaultStreamFilterChainImpl does.
type fakeStream struct {
	api.StreamFilterChainFactoryCallbacks
	ctx       context.Context
	info      fakeInfo
	recvH     fakeReceiverHandler
	sendH     fakeSenderHandler
	receivers []api.StreamReceiverFilter
	rphases   []api.ReceiverFilterPhase
	senders   []api.StreamSenderFilter
	sphases   []api.SenderFilterPhase
}

func (c *fakeStream) AddStreamReceiverFilter(f api.StreamReceiverFilter, p api.ReceiverFilterPhase) {
	f.SetReceiveFilterHandler(&c.recvH)
	c.receivers = append(c.receivers, f)
	c.rphases = append(c.rphases, p)
}

func (c *fakeStream) AddStreamSenderFilter(f api.StreamSenderFilter, p api.SenderFilterPhase) {
	f.SetSenderFilterHandler(&c.sendH)
	c.senders = append(c.senders, f)
	c.sphases = append(c.sphases, p)
}

// start creates the chain for a new stream; reuse a fakeStream to keep
// benchmarks free of harness allocations.
func (c *fakeStream) start(fac api.StreamFilterChainFactory) {
	c.receivers, c.rphases, c.senders, c.sphases = c.receivers[:0], c.rphases[:0], c.senders[:0], c.sphases[:0]
	c.info = fakeInfo{start: time.Now()}
	c.recvH.info, c.sendH.info = &c.info, &c.info
	if c.ctx == nil {
		c.ctx = context.Background()
	}
	fac.CreateFilterChain(c.ctx, c)
}

func (c *fakeStream) receive(req api.HeaderMap) {
	for _, f := range c.receivers {
		f.OnReceive(c.ctx, req, nil, nil)
	}
}

func (c *fakeStream) send(resp api.HeaderMap) {
	for _, f := range c.senders {
		f.Append(c.ctx, resp, nil, nil)
	}
}

func (c *fakeStream) destroy() {
	for _, f := range c.receivers {
		f.OnDestroy()
	}
	for _, f := range c.senders {
		f.OnDestroy()
	}
}

// call runs one request through a new stream; resp nil means no response.
func call(fac api.StreamFilterChainFactory, req, resp api.HeaderMap) {
	c := &fakeStream{}
	c.start(fac)
	c.receive(req)
	if resp != nil {
		c.send(resp)
	}
	c.destroy()
}

// hijackCtx is a stream context after MOSN's sendHijackReply(code).
func hijackCtx(t testing.TB, code int) context.Context {
	ctx := variable.NewVariableContext(context.Background())
	require.NoError(t, variable.SetString(ctx, types.VarHeaderStatus, strconv.Itoa(code)))
	return ctx
}

// reset empties MOSN's registry and the filter's, so tests do not see
// each other's series.
func reset(t testing.TB) {
	t.Helper()
	mosnmetrics.ResetAll()
	registry = &seriesRegistry{}
}

func newFactory(t testing.TB, conf map[string]interface{}) *factory {
	t.Helper()
	fac, err := CreateFilterFactory(conf)
	require.NoError(t, err)
	return fac.(*factory)
}

// lbl builds a label set for a series; extra is name, value pairs.
func lbl(proto, service, method string, extra ...string) map[string]string {
	m := map[string]string{labelProtocol: proto, labelService: service, labelMethod: method}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// value reads a counter or gauge from MOSN's registry without creating it;
// ok is false when the series or key does not exist.
func value(labels map[string]string, key string) (v int64, ok bool) {
	for _, m := range mosnmetrics.GetAll() {
		if m.Type() != MetricsType || !sameLabels(m.Labels(), labels) {
			continue
		}
		m.Each(func(name string, i interface{}) {
			if name != key {
				return
			}
			switch x := i.(type) {
			case interface{ Count() int64 }:
				v, ok = x.Count(), true
			case interface{ Value() int64 }:
				v, ok = x.Value(), true
			}
		})
	}
	return
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// get is value for a series that must exist.
func get(t testing.TB, labels map[string]string, key string) int64 {
	t.Helper()
	v, ok := value(labels, key)
	require.True(t, ok, "no %s for %v", key, labels)
	return v
}

// seriesCount counts distinct base series (protocol, service, method).
func seriesCount() int {
	n := 0
	for _, m := range mosnmetrics.GetAll() {
		if m.Type() == MetricsType && len(m.Labels()) == 3 {
			n++
		}
	}
	return n
}
