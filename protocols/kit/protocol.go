package kit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Protocol is one connection's api.XProtocol. Besides its config it keeps
// only the connection's routing-variable cache, used from its decode loop.
type Protocol struct {
	wire  Wire
	info  Info
	cfg   Config
	route rpcmeta.RouteVars
}

var _ api.XProtocol = (*Protocol)(nil)

func (p *Protocol) Name() api.ProtocolName { return p.info.Name }

// Decode returns one frame, nil when more bytes are needed, or an error:
// a ConnError (nil frame) closes the connection. A request whose metadata
// is unreadable comes back as a frame with DecodeError set and no error,
// because MOSN v1.3.0 never answers a decode error: as a normal request it
// reaches the metadata filter or Hijack, which answer it with the
// protocol's bad-request status. A oneway one, which nobody would hear
// about, closes the connection instead.
func (p *Protocol) Decode(ctx context.Context, data api.IoBuffer) (interface{}, error) {
	b := data.Bytes()
	n, err := p.wire.Peek(b, p.cfg.MaxFrameBytes)
	if err != nil || n == 0 || len(b) < n {
		return nil, err
	}
	if n < p.info.MinFrameBytes {
		return nil, &rpcmeta.ConnError{Protocol: string(p.info.Name), Reason: fmt.Sprintf("frame length %d under the %d-byte header", n, p.info.MinFrameBytes)}
	}
	raw := make([]byte, n)
	copy(raw, b)
	data.Drain(n)
	f := NewFrame(p.info.Name, raw, p.cfg.MaxHeaders)
	if err := p.wire.Parse(f); err != nil {
		var ce *rpcmeta.ConnError
		if errors.As(err, &ce) {
			return nil, err
		}
		f.ResetHeaders()
		f.AcceptNewHeaders(NoGroup)
		if !f.Kind.IsRequest() {
			// An unreadable response is the server's problem, not a reason
			// to drop the caller's answer: forward it untouched.
			return f, nil
		}
		f.decodeErr = &rpcmeta.StreamError{Protocol: string(p.info.Name), RequestID: f.ID, Reason: "malformed request", Err: err}
		if f.Kind == KindOneway {
			return nil, &rpcmeta.ConnError{Protocol: string(p.info.Name), Reason: "malformed oneway request", Err: err}
		}
	}
	if f.Kind == KindRequest || f.Kind == KindOneway {
		p.route.Set(ctx, f.service, f.method)
	}
	return f, nil
}

// Encode writes a frame of this codec; a request whose metadata could not
// be read is never forwarded.
func (p *Protocol) Encode(ctx context.Context, model interface{}) (api.IoBuffer, error) {
	f, ok := model.(*Frame)
	if !ok {
		return nil, fmt.Errorf("%s: encode %T: %w", p.info.Name, model, api.ErrUnknownType)
	}
	if f.decodeErr != nil && f.Kind.IsRequest() {
		return nil, fmt.Errorf("%s: refusing to forward %w", p.info.Name, f.decodeErr)
	}
	buf := buffer.GetIoBuffer(len(f.Raw) + 64)
	if err := p.wire.Encode(f, buf); err != nil {
		buffer.PutIoBuffer(buf)
		return nil, fmt.Errorf("%s: encode frame %d: %w", p.info.Name, f.ID, err)
	}
	return buf, nil
}

// built parses a frame the protocol built itself (heartbeats, replies).
func (p *Protocol) built(raw []byte) *Frame {
	f := NewFrame(p.info.Name, raw, p.cfg.MaxHeaders)
	if err := p.wire.Parse(f); err != nil {
		// A builder's own bytes always parse (its tests say so); should one
		// not, the frame still carries its bytes and is written as is.
		f.ResetHeaders()
	}
	return f
}

// Trigger builds the heartbeat for an idle upstream connection.
func (p *Protocol) Trigger(ctx context.Context, requestID uint64) api.XFrame {
	raw := p.wire.Heartbeat(requestID)
	if raw == nil {
		return nil
	}
	return p.built(raw)
}

// Reply answers a client's heartbeat at the proxy.
func (p *Protocol) Reply(ctx context.Context, request api.XFrame) api.XRespFrame {
	req, ok := request.(*Frame)
	if !ok {
		return nil
	}
	return p.built(p.wire.HeartbeatReply(req))
}

// Hijack answers a request the proxy could not forward, or that a filter
// answered (rpcmeta.LocalReply), with the protocol's own error.
func (p *Protocol) Hijack(ctx context.Context, request api.XFrame, status uint32) api.XRespFrame {
	req, ok := request.(*Frame)
	if !ok {
		req = NewFrame(p.info.Name, nil, 0)
		req.ID = request.GetRequestId()
		req.Kind = KindRequest
	}
	if req.decodeErr != nil {
		// Whatever MOSN failed at, the request itself was the problem.
		status = p.info.BadRequest
	}
	status, msg := rpcmeta.HijackReply(ctx, req, status)
	return p.built(p.wire.ErrorReply(req, status, msg))
}

// Mapping turns MOSN's HTTP-style status into the protocol's.
func (p *Protocol) Mapping(httpStatusCode uint32) uint32 {
	return p.wire.NativeStatus(int(httpStatusCode))
}

// PoolMode: requests are multiplexed by request id, unless
// upstream_connections is "per_client" (MOSN's binding pool).
func (p *Protocol) PoolMode() api.PoolMode {
	if p.cfg.UpstreamConnections == rpcmeta.UpstreamPerClient {
		return api.TCP
	}
	return api.Multiplex
}

// EnableWorkerPool: Config.WorkerPool.
func (p *Protocol) EnableWorkerPool() bool { return *p.cfg.WorkerPool }

// GenerateRequestID numbers upstream requests per connection, within the
// protocol's id width and never 0.
func (p *Protocol) GenerateRequestID(base *uint64) uint64 {
	for {
		id := atomic.AddUint64(base, 1)
		if p.info.IDBits < 64 {
			id &= 1<<p.info.IDBits - 1
		}
		if id != 0 {
			return id
		}
	}
}
