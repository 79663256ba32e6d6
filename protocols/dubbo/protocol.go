package dubbo

import (
	"context"
	"fmt"
	"sync/atomic"

	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/hessian2"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Protocol is the per-connection XProtocol. It holds no state besides the
// configuration it was created with, so one connection never sees another's
// bytes.
type Protocol struct {
	cfg   Config
	route rpcmeta.RouteVars // this connection's routing variables (decode loop only)
}

var (
	_ api.XProtocol = (*Protocol)(nil)
	_ api.GoAwayer  = (*Protocol)(nil)
)

// NewProtocol returns a protocol with cfg (defaults filled in).
func NewProtocol(cfg Config) *Protocol {
	return &Protocol{cfg: cfg.withDefaults()}
}

func (p *Protocol) Name() api.ProtocolName { return ProtocolName }

// Decode returns one frame, nil when more bytes are needed, or an error:
// a ConnError (nil frame) closes the connection; a StreamError comes with
// the frame so that MOSN answers that request with an error.
func (p *Protocol) Decode(ctx context.Context, data api.IoBuffer) (interface{}, error) {
	for {
		b := data.Bytes()
		n, err := peekHeader(b, p.cfg.MaxFrameBytes)
		if err != nil || n == 0 || len(b) < n {
			return nil, err
		}
		raw := make([]byte, n)
		copy(raw, b)
		data.Drain(n)
		f, err := decodeFrame(raw, &p.cfg)
		if f.IsEvent() && f.IsRequest() && !f.IsTwoWay() && !f.IsGoAwayFrame() {
			// A one-way event other than readonly has no meaning for the
			// proxy and no stream to belong to: drop it, keep decoding.
			continue
		}
		if f != nil && f.IsRequest() && !f.IsEvent() {
			p.route.Set(ctx, f.service, f.method)
		}
		return f, err
	}
}

// Encode writes a frame produced by this codec.
func (p *Protocol) Encode(ctx context.Context, model interface{}) (api.IoBuffer, error) {
	f, ok := model.(*Frame)
	if !ok {
		return nil, fmt.Errorf("dubbo: encode %T: %w", model, api.ErrUnknownType)
	}
	if f.IsRequest() && f.decodeErr != nil {
		// A request whose body the codec could not read is answered with
		// status 40, never forwarded.
		return nil, fmt.Errorf("dubbo: refusing to forward %w", f.decodeErr)
	}
	return encodeFrame(f)
}

// Trigger builds the heartbeat MOSN sends on idle upstream connections,
// which keeps them from being closed by the provider's idle timeout.
func (p *Protocol) Trigger(ctx context.Context, requestID uint64) api.XFrame {
	return newEventFrame(FlagRequest|FlagTwoWay|FlagEvent|SerializationHessian2, 0, requestID)
}

// Reply answers a client's heartbeat at the proxy.
func (p *Protocol) Reply(ctx context.Context, request api.XFrame) api.XRespFrame {
	return newEventFrame(FlagEvent|SerializationHessian2, StatusOK, request.GetRequestId())
}

// GoAway is the readonly event Dubbo providers send when they shut down, so
// that MOSN, draining a listener, tells clients to stop sending.
func (p *Protocol) GoAway(ctx context.Context) api.XFrame {
	raw := make([]byte, HeaderLen+len(readonlyEvent))
	f := &Frame{raw: raw, flag: FlagRequest | FlagEvent | SerializationHessian2, respType: -1, attachLoaded: true}
	copy(raw[HeaderLen:], readonlyEvent)
	f.finish()
	return f
}

// Hijack answers a request the proxy could not forward. status is a Dubbo
// status (see Mapping); the message says what MOSN failed at.
func (p *Protocol) Hijack(ctx context.Context, request api.XFrame, status uint32) api.XRespFrame {
	if rf, ok := request.(*Frame); ok && rf.decodeErr != nil {
		// Whatever MOSN failed at, the request itself was the problem.
		status = uint32(StatusBadRequest)
	}
	var req rpcmeta.Request
	if rf, ok := request.(*Frame); ok {
		req = rf
	}
	status, msg := rpcmeta.HijackReply(ctx, req, status)
	body := hessian2.AppendString(nil, msg)
	raw := make([]byte, HeaderLen+len(body))
	copy(raw[HeaderLen:], body)
	f := &Frame{raw: raw, flag: SerializationHessian2, status: byte(status), id: request.GetRequestId(), respType: -1, attachLoaded: true}
	f.finish()
	return f
}

// Mapping turns MOSN's HTTP-style status into a Dubbo status.
func (p *Protocol) Mapping(httpStatusCode uint32) uint32 {
	return uint32(dubboStatusFor(int(httpStatusCode)))
}

// PoolMode: Dubbo multiplexes requests on one connection by request id;
// under upstream_connections "per_client" each client connection gets
// its own (MOSN's binding pool).
func (p *Protocol) PoolMode() api.PoolMode {
	if p.cfg.UpstreamConnections == rpcmeta.UpstreamPerClient {
		return api.TCP
	}
	return api.Multiplex
}

// EnableWorkerPool runs each request's filters and routing off the
// connection's read goroutine, so one slow request does not hold up the
// frames behind it (Config.WorkerPool, default true).
func (p *Protocol) EnableWorkerPool() bool { return p.cfg.WorkerPool == nil || *p.cfg.WorkerPool }

// GenerateRequestID numbers upstream requests per connection.
func (p *Protocol) GenerateRequestID(base *uint64) uint64 { return atomic.AddUint64(base, 1) }

func newEventFrame(flag, status byte, id uint64) *Frame {
	raw := make([]byte, HeaderLen+1)
	raw[HeaderLen] = 'N' // hessian2 null: a heartbeat carries no data
	f := &Frame{raw: raw, flag: flag, status: status, id: id, respType: -1, attachLoaded: true}
	f.finish()
	return f
}

// finish fills the header bytes and data buffer of a locally built frame.
func (f *Frame) finish() {
	f.putHeader(f.raw, len(f.raw)-HeaderLen)
	f.attachments = f.attachArr[:0]
	f.attachStart = len(f.raw) - HeaderLen
	f.attachEnd = f.attachStart
	f.data = newBodyBuffer(f.raw)
	f.origData = f.data
}
