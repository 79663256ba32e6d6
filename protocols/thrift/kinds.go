package thrift

import (
	"context"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// Upstream connections per kind.
//
// MOSN multiplexes the requests of all its clients onto shared upstream
// connections. Thrift servers read a connection's messages one kind at a
// time: Apache Thrift's Go THeader server, for one, closes an unframed
// connection whose messages switch between binary and compact. So
// requests of different transport x protocol must not share a connection.
//
// MOSN keys connection pools by protocol name and lets a request choose
// its upstream protocol through the x-mosn-upstream-protocol variable.
// KindCodecs returns one codec per kind, named e.g. "thrift_framed_compact";
// once they are registered, Decode sets that variable on every request, and
// each kind gets its own upstream connections. They share all of this
// package's code and never claim a connection on an "Auto" listener.

// kindName is the sub-protocol name of a transport x protocol.
func kindName(t Transport, p thriftwire.Proto) api.ProtocolName {
	return api.ProtocolName(string(ProtocolName) + "_" + t.String() + "_" + p.String())
}

var kindNames = func() (m [4][2]api.ProtocolName) {
	for _, t := range []Transport{Framed, Unframed, Header} {
		for _, p := range []thriftwire.Proto{thriftwire.Binary, thriftwire.Compact} {
			m[t][p] = kindName(t, p)
		}
	}
	return
}()

// KindCodecs returns the per-kind codecs to register beside c, and turns
// on the per-kind upstream choice in c's protocols.
func (c *XCodec) KindCodecs() []api.XProtocolCodec {
	c.kindPools.Store(true)
	var out []api.XProtocolCodec
	for _, t := range []Transport{Framed, Unframed, Header} {
		for _, p := range []thriftwire.Proto{thriftwire.Binary, thriftwire.Compact} {
			out = append(out, &kindCodec{parent: c, name: kindNames[t][p], transport: t})
		}
	}
	return out
}

// kindCodec is the codec of one kind's upstream pool.
type kindCodec struct {
	parent    *XCodec
	name      api.ProtocolName
	transport Transport
}

func (k *kindCodec) ProtocolName() api.ProtocolName { return k.name }

func (k *kindCodec) NewXProtocol(ctx context.Context) api.XProtocol {
	return &kindProtocol{Protocol: k.parent.NewXProtocol(ctx).(*Protocol), name: k.name, transport: k.transport}
}

// ProtocolMatch never matches: a downstream connection is "thrift".
func (k *kindCodec) ProtocolMatch() api.ProtocolMatch {
	return func([]byte) api.MatchResult { return api.MatchFailed }
}

func (k *kindCodec) HTTPMapping() api.HTTPMapping { return k.parent.HTTPMapping() }

// StallTimeout: upstream connections are the kind codecs' (stallwatch).
func (k *kindCodec) StallTimeout() time.Duration { return k.parent.StallTimeout() }

// WriteCoalescing: the same for writes (internal/coalesce).
func (k *kindCodec) WriteCoalescing() (bool, int) { return k.parent.WriteCoalescing() }

// kindProtocol is Protocol under the kind's name.
type kindProtocol struct {
	*Protocol
	name      api.ProtocolName
	transport Transport
}

func (k *kindProtocol) Name() api.ProtocolName { return k.name }

// PoolMode gives each client connection upstream connections of its own
// (MOSN's binding pool, api.TCP) for unframed messages, and under
// "per_client" for every kind; else requests share connections.
//
// Where a Thrift message ends depends on the server's IDL: generated code
// reads a container's elements as the IDL's type and never checks the
// element type on the wire, so a message the proxy steps over correctly
// can be read by the server as shorter or longer (list<i64> sent with
// element type bool: the server reads varints where the proxy saw one
// byte each). Unframed, the server then reads the next message's bytes
// as the rest of this one, and a shared connection wedges for every
// client on it: only a connection of the sender's own keeps that harm
// with the sender. Framed, the frame bounds the damage: Apache Thrift's
// Go and Python servers fail the message and close the connection, which
// fails (never wedges or mis-delivers) the calls in flight on it.
//
// The cost of per client: one upstream connection per client connection
// and host, made when its first call is routed, so the first call pays a
// connect; and MOSN's binding pool closes it as soon as the client goes,
// so oneway calls of a client that closes right after sending them may be
// dropped (docs/framing.md).
func (k *kindProtocol) PoolMode() api.PoolMode {
	if k.transport == Unframed && k.cfg.UpstreamConnections != UpstreamShared {
		return api.TCP
	}
	return k.Protocol.PoolMode()
}

// chooseUpstream sets the request's upstream protocol to its kind.
func chooseUpstream(ctx context.Context, f *Frame) {
	if ctx == nil {
		return
	}
	_ = variable.Set(ctx, types.VariableUpstreamProtocol, kindNames[f.transport][f.proto])
}
