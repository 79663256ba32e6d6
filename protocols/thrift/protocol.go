package thrift

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/thriftwire"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Protocol is the per-connection XProtocol. It keeps no state between
// frames: each frame says its own transport and protocol.
type Protocol struct {
	cfg Config
	// kindPools: send each request to its kind's upstream pool (see
	// KindCodecs).
	kindPools bool
	route     rpcmeta.RouteVars // this connection's routing variables (decode loop only)
	// The first frame fixes the connection's transport and protocol: no
	// Thrift client changes either within a connection, and a stream that
	// seems to is not Thrift any more (or is being probed). Decode loop only.
	locked    bool
	lockedTr  Transport
	lockedPro thriftwire.Proto
}

var _ api.XProtocol = (*Protocol)(nil)

// NewProtocol returns a protocol with cfg (defaults filled in).
func NewProtocol(cfg Config) *Protocol { return &Protocol{cfg: cfg.withDefaults()} }

func (p *Protocol) Name() api.ProtocolName { return ProtocolName }

// Decode returns one frame, nil when more bytes are needed, or a
// ConnError that closes the connection.
func (p *Protocol) Decode(ctx context.Context, data api.IoBuffer) (interface{}, error) {
	b := data.Bytes()
	if len(b) == 0 {
		return nil, nil
	}
	k, ok, err := detect(b, &p.cfg)
	if err != nil || !ok {
		return nil, err
	}
	n, err := frameLength(b, k, &p.cfg)
	if err != nil || n == 0 || len(b) < n {
		return nil, err
	}
	raw := make([]byte, n)
	copy(raw, b)
	data.Drain(n)
	f, err := decodeFrame(raw, k, &p.cfg)
	if err != nil {
		return nil, err
	}
	if f.isRequest() || p.kindPools {
		// Replies are checked only where each upstream connection carries
		// one kind (KindCodecs); without kind pools one carries several.
		if err := p.lock(f); err != nil {
			return nil, err
		}
	}
	if f.isRequest() {
		p.route.Set(ctx, f.service, f.method)
		if p.kindPools {
			chooseUpstream(ctx, f)
		}
	}
	return f, nil
}

// lock fixes the connection's transport and protocol at its first frame
// and refuses a frame of another kind later.
func (p *Protocol) lock(f *Frame) error {
	if !p.locked {
		p.locked, p.lockedTr, p.lockedPro = true, f.transport, f.proto
		return nil
	}
	if f.transport != p.lockedTr || f.proto != p.lockedPro {
		return connErr(fmt.Sprintf("%s %s frame on a %s %s connection: a client never changes transport or protocol within a connection", f.transport, f.proto, p.lockedTr, p.lockedPro), nil)
	}
	return nil
}

// Encode writes a frame produced by this codec.
func (p *Protocol) Encode(ctx context.Context, model interface{}) (api.IoBuffer, error) {
	f, ok := model.(*Frame)
	if !ok {
		return nil, fmt.Errorf("thrift: encode %T: %w", model, api.ErrUnknownType)
	}
	if f.isRequest() && f.decodeErr != nil {
		// The last line of defence: a request the codec could not bound
		// exactly is never written to a shared upstream connection.
		return nil, fmt.Errorf("thrift: refusing to forward %w", f.decodeErr)
	}
	return encodeFrame(f)
}

// Trigger returns nil: Thrift has no heartbeat, so MOSN keeps no
// keepalive on Thrift upstream connections.
func (p *Protocol) Trigger(context.Context, uint64) api.XFrame { return nil }

// Reply is never called: no Thrift frame is a heartbeat.
func (p *Protocol) Reply(context.Context, api.XFrame) api.XRespFrame { return nil }

// Hijack answers a request the proxy could not forward with a
// TApplicationException of type excType (see Mapping), in the client's own
// transport and protocol, with its sequence id and unprefixed method name
// (what a TMultiplexedProtocol client expects back).
func (p *Protocol) Hijack(ctx context.Context, request api.XFrame, excType uint32) api.XRespFrame {
	req, ok := request.(*Frame)
	if !ok {
		return nil
	}
	if req.decodeErr != nil {
		excType = uint32(ExcProtocolError)
	}
	excType, msg := rpcmeta.HijackReply(ctx, req, excType)
	f, err := buildException(req, int32(excType), msg, &p.cfg)
	if err != nil {
		return nil
	}
	return f
}

// buildException writes an EXCEPTION message answering req.
func buildException(req *Frame, excType int32, message string, cfg *Config) (*Frame, error) {
	seq := int32(uint32(req.id))
	strict := req.msg.Strict || req.proto == thriftwire.Compact
	msg := thriftwire.AppendMessageHeader(req.proto, nil, req.method, MessageException, seq, strict)
	msg = thriftwire.AppendApplicationException(req.proto, msg, message, excType)
	var raw []byte
	switch req.transport {
	case Unframed:
		raw = msg
	case Framed:
		raw = binary.BigEndian.AppendUint32(make([]byte, 0, frameLenBytes+len(msg)), uint32(len(msg)))
		raw = append(raw, msg...)
	case Header:
		region := thriftwire.AppendVarint32(nil, req.th.protoID)
		region = thriftwire.AppendVarint32(region, 0)
		for len(region)%4 != 0 {
			region = append(region, 0)
		}
		raw = make([]byte, headerFixedLen, headerFixedLen+len(region)+len(msg))
		binary.BigEndian.PutUint32(raw[0:], uint32(headerFixedLen-frameLenBytes+len(region)+len(msg)))
		binary.BigEndian.PutUint16(raw[4:], headerMagic)
		binary.BigEndian.PutUint16(raw[6:], req.th.flags)
		binary.BigEndian.PutUint32(raw[8:], uint32(seq))
		binary.BigEndian.PutUint16(raw[12:], uint16(len(region)/4))
		raw = append(append(raw, region...), msg...)
	}
	return decodeFrame(raw, kind{req.transport, req.proto}, cfg)
}

// Mapping turns MOSN's HTTP-style status into a TApplicationException type.
func (p *Protocol) Mapping(httpStatusCode uint32) uint32 {
	return uint32(excTypeFor(int(httpStatusCode)))
}

// PoolMode: requests share upstream connections, told apart by sequence
// ids the codec rewrites so that requests of different clients never
// collide, unless upstream_connections is "per_client". With kind pools
// (KindCodecs) the upstream connections are the kind codecs', whose
// PoolMode decides per transport.
func (p *Protocol) PoolMode() api.PoolMode {
	if p.cfg.UpstreamConnections == UpstreamPerClient {
		return api.TCP
	}
	return api.Multiplex
}

// EnableWorkerPool runs filters and routing off the connection's reader.
func (p *Protocol) EnableWorkerPool() bool { return true }

// GenerateRequestID numbers upstream requests per connection within the
// positive int32 range of a Thrift sequence id.
func (p *Protocol) GenerateRequestID(base *uint64) uint64 {
	return atomic.AddUint64(base, 1) & 0x7fffffff
}
