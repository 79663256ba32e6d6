// Package rpcmeta is the contract between meshproto codecs and stream filters.
//
// Every meshproto codec decodes only what routing needs and exposes it in one
// shape, so that filters never import a codec and never know which protocol
// they look at. A request frame is an api.HeaderMap (MOSN routes match on it)
// that also implements Request; a response frame also implements Response.
//
// Header keys, the same for every protocol:
//
//	key              direction  meaning                                  writable
//	x-rpc-protocol   both       codec name: "dubbo", "thrift", ...       no
//	x-rpc-service    request    service (Dubbo interface, Thrift service) no
//	x-rpc-method     request    method name                              no
//	x-rpc-version    request    service version ("" when none)           no
//	x-rpc-group      request    service group ("" when none)             no
//	x-rpc-status     response   protocol-native status, decimal          no
//	anything else    both       an attachment / protocol header          yes
//
// The x-rpc-* keys are computed from the frame: Set and Del on them are
// ignored, because changing them would mean rewriting bytes the codec
// promises to forward untouched. Every other key is an attachment (Dubbo) or
// an info header (Thrift THeader): Set, Add and Del change it, and the codec
// writes the change back on the wire when it encodes the frame.
package rpcmeta

import (
	"strings"

	"mosn.io/api"
)

// Reserved header keys. See the package documentation for the table.
const (
	KeyProtocol = "x-rpc-protocol"
	KeyService  = "x-rpc-service"
	KeyMethod   = "x-rpc-method"
	KeyVersion  = "x-rpc-version"
	KeyGroup    = "x-rpc-group"
	KeyStatus   = "x-rpc-status"

	// ReservedPrefix starts every key that a codec computes.
	ReservedPrefix = "x-rpc-"
)

// IsReserved reports whether key is computed by the codec (read-only).
func IsReserved(key string) bool {
	return strings.HasPrefix(key, ReservedPrefix)
}

// Frame is what every meshproto frame offers, request or response.
type Frame interface {
	api.HeaderMap
	// RPCProtocol names the codec, e.g. "dubbo".
	RPCProtocol() string
}

// Request is the routing metadata of one request frame.
// CallerID is a frame that remembers the request id it arrived with: MOSN
// renumbers a request for its upstream connection in place.
type CallerID interface {
	CallerRequestID() uint64
}

// Attempts is implemented by request frames that know how many times the
// proxy sent them upstream: MOSN gives a request a new upstream id for each
// attempt, so the first is the call and the rest are retries (0 when the
// proxy answered it itself).
type Attempts interface {
	UpstreamAttempts() int
}

// Caller is what a frame keeps to implement CallerID and Attempts.
type Caller struct {
	id       uint64
	set      bool
	attempts uint32
}

// Renumber is called with the current id before SetRequestId replaces it.
func (c *Caller) Renumber(current uint64) {
	if !c.set {
		c.id, c.set = current, true
	}
	c.attempts++
}

// Attempts is how many times the frame was renumbered.
func (c *Caller) Attempts() int { return int(c.attempts) }

// Of returns the id the frame arrived with; current while it was never
// renumbered.
func (c *Caller) Of(current uint64) uint64 {
	if c.set {
		return c.id
	}
	return current
}

type Request interface {
	Frame
	Service() string
	Method() string
	Version() string
	Group() string
}

// Response is the outcome of one call as the protocol reports it.
type Response interface {
	Frame
	// NativeStatus is the protocol's own status (Dubbo status byte,
	// Thrift message type / exception type).
	NativeStatus() uint32
	// Succeeded reports whether the call succeeded at the RPC level. An
	// application exception carried in a normal reply counts as success:
	// the RPC worked, the business logic threw.
	Succeeded() bool
}

// Invalid is implemented by requests whose frame boundary was intact but
// whose routing metadata could not be read. Such a request is never
// forwarded: the proxy answers it with the protocol's own "bad request"
// error (the metadata filter does this), and the connection stays open.
type Invalid interface {
	// DecodeError is nil for a good request.
	DecodeError() error
}

// ByteSize is the size of the headers h shows (keys and values), which
// every meshproto frame reports as its api.HeaderMap ByteSize.
func ByteSize(h api.HeaderMap) uint64 {
	var n uint64
	h.Range(func(k, v string) bool {
		n += uint64(len(k) + len(v))
		return true
	})
	return n
}
