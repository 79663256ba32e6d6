// Package bolt is SOFA Bolt (v1, and v2's framing) for SOFARPC on the
// protocol kit: the wire format and nothing else. Routing metadata comes
// from the Bolt header map (service "interface:version[:uniqueId]",
// sofa_head_method_name) and, for hessian SofaRequests, from the content
// (the method name and the request props, which sofa-rpc-node sends only
// there). Header map entries and request props are headers; changed ones
// are written back where they came from, new ones go to the request props
// (where a SOFARPC server hands them to the application) or, without a
// SofaRequest, to the header map. Arguments are never decoded.
package bolt

import (
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"strings"

	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/boltwire"
	"github.com/meshproto/meshproto/internal/sofarpc"
	"github.com/meshproto/meshproto/internal/zerocopy"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// ProtocolName is "bolt", as MOSN's built-in codec, which the meshproto
// binary does not register.
const ProtocolName api.ProtocolName = "bolt"

// Header groups and frame marks.
const (
	groupHeaderMap uint8 = 0
	groupProps     uint8 = 1

	markHeaders      = 0 // header map start (its end is markContent)
	markContent      = 1
	markContentEnd   = 2
	markPropsStart   = 3 // within the content; -1 without request props
	markPropsEnd     = 4
	markDialect      = 5
	markHeaderFields = 6 // offset of classLen (lengths follow it)

	flagCRC = 1 << 8 // Bolt v2 with a CRC32 after the content
)

const (
	codecHessian  = 1
	codecProtobuf = 11
	sofaRequest   = "com.alipay.sofa.rpc.core.request.SofaRequest"
	sofaResponse  = "com.alipay.sofa.rpc.core.response.SofaResponse"
)

// Wire is Bolt for kit.NewXCodec.
type Wire struct{}

// NewXCodec returns the Bolt codec.
func NewXCodec() *kit.XCodec { return kit.NewXCodec(Wire{}) }

func (Wire) Info() kit.Info {
	return kit.Info{Name: ProtocolName, IDBits: 32, MinFrameBytes: 20, DefaultMaxFrameBytes: 8 << 20,
		BadRequest: uint32(boltwire.StatusServerDeserialException), MaxNativeStatus: 0xffff}
}

func (Wire) Peek(b []byte, maxFrame int) (int, error) {
	var h boltwire.Header
	ok, err := h.Read(b, maxFrame)
	if err != nil {
		return 0, &rpcmeta.ConnError{Protocol: string(ProtocolName), Reason: "bad frame header", Err: err}
	}
	if !ok {
		return 0, nil
	}
	return h.FrameLen, nil
}

func (Wire) Parse(f *kit.Frame) error {
	var h boltwire.Header
	if ok, err := h.Read(f.Raw, 0); !ok || err != nil {
		return &rpcmeta.ConnError{Protocol: string(ProtocolName), Reason: "bad frame header", Err: err}
	}
	f.ID, f.Flags = uint64(h.RequestID), uint32(h.Proto)
	if h.Proto == boltwire.ProtoV2 && h.Switch&1 != 0 {
		f.Flags |= flagCRC
		// Encode writes a fresh CRC; a corrupt frame must not get one.
		n := len(f.Raw) - 4
		if binary.BigEndian.Uint32(f.Raw[n:]) != crc32.ChecksumIEEE(f.Raw[:n]) {
			return &rpcmeta.ConnError{Protocol: string(ProtocolName), Reason: "CRC32 mismatch"}
		}
	}
	switch {
	case h.IsHeartbeat() && h.IsRequest():
		f.Kind = kit.KindHeartbeat
	case h.IsHeartbeat():
		f.Kind = kit.KindHeartbeatReply
	case h.Type == boltwire.TypeOneway:
		f.Kind = kit.KindOneway
	case h.IsRequest():
		f.Kind, f.Timeout = kit.KindRequest, h.Timeout
	default:
		f.Kind, f.Status = kit.KindResponse, uint32(h.Status)
		if h.Status != boltwire.StatusSuccess {
			f.SetFailed()
		}
	}
	p := boltwire.Split(&h, f.Raw)
	f.Marks[markHeaders] = h.Len + int(h.ClassLen)
	f.Marks[markContent] = f.Marks[markHeaders] + int(h.HeaderLen)
	f.Marks[markContentEnd] = f.Marks[markContent] + int(h.ContentLen)
	f.Marks[markPropsStart], f.Marks[markHeaderFields] = -1, h.Len-8
	f.SetBody(f.Marks[markContent], f.Marks[markContentEnd])
	f.AcceptNewHeaders(groupHeaderMap)
	var service, method string
	var addErr error
	if err := boltwire.RangeHeaders(p.Headers, func(k, v []byte) bool {
		key, val := zerocopy.String(k), zerocopy.String(v)
		switch key {
		case "service", "sofa_head_target_service":
			if service == "" || key == "service" {
				service = val
			}
		case "sofa_head_method_name":
			method = val
		}
		addErr = f.AddHeader(groupHeaderMap, key, val)
		return addErr == nil
	}); err != nil {
		return err
	}
	if addErr != nil {
		return addErr
	}
	if f.Kind == kit.KindRequest || f.Kind == kit.KindOneway {
		if h.Codec != codecHessian && h.Codec != codecProtobuf {
			return errUnknownCodec(h.Codec)
		}
		f.Marks[markDialect] = int(sofarpc.DialectOf(p.Content))
		if h.Codec == codecHessian && string(p.Class) != sofaRequest {
			// SOFARPC servers have no processor for it, and sofa-rpc-node's
			// closes the connection (shared by every client of the proxy).
			return errNotSofaRequest(p.Class)
		}
		if h.Codec == codecHessian {
			req, err := sofarpc.Parse(p.Content, func(pr sofarpc.Prop) error {
				if pr.RawEnd > pr.RawStart {
					return f.AddRawHeader(groupProps, pr.Key, f.Marks[markContent]+pr.RawStart, f.Marks[markContent]+pr.RawEnd)
				}
				return f.AddHeader(groupProps, pr.Key, pr.Value)
			})
			if err != nil {
				return err
			}
			if method == "" {
				method = req.Method
			}
			if service == "" {
				service = req.Service
			}
			if req.PropsStart >= 0 {
				f.Marks[markPropsStart], f.Marks[markPropsEnd] = req.PropsStart, req.PropsEnd
				f.AcceptNewHeaders(groupProps)
			}
			f.Marks[markDialect] = int(req.Dialect)
		}
		iface, version, group := splitService(service)
		f.SetMetadata(iface, method, version, group)
	}
	return nil
}

// splitService splits SOFARPC's unique name "interface:version[:uniqueId]".
func splitService(s string) (iface, version, group string) {
	iface, rest, ok := strings.Cut(s, ":")
	if !ok {
		return s, "", ""
	}
	version, group, _ = strings.Cut(rest, ":")
	return iface, version, group
}

func (Wire) Encode(f *kit.Frame, buf api.IoBuffer) error {
	raw := f.Raw
	if !f.HeadersChanged(groupHeaderMap) && !f.HeadersChanged(groupProps) && !f.BodyReplaced() {
		// The common case: the received bytes with the current request id.
		if err := buf.Append(raw); err != nil {
			return err
		}
		return finish(f, buf.Bytes()[buf.Len()-len(raw):])
	}
	headers := raw[f.Marks[markHeaders]:f.Marks[markContent]]
	if f.HeadersChanged(groupHeaderMap) {
		headers = appendGroup(nil, f, groupHeaderMap)
	}
	content := f.Body()
	if f.HeadersChanged(groupProps) && !f.BodyReplaced() {
		ps, pe := f.Marks[markPropsStart], f.Marks[markPropsEnd]
		var props []sofarpc.Prop
		for _, h := range f.Headers() {
			if h.Group == groupProps && !h.Deleted {
				props = append(props, sofarpc.Prop{Key: h.Key, Value: h.Value, RawStart: int(h.RawStart) - f.Marks[markContent], RawEnd: int(h.RawEnd) - f.Marks[markContent]})
			}
		}
		out := append([]byte(nil), content[:ps]...)
		out = sofarpc.AppendProps(out, sofarpc.Dialect(f.Marks[markDialect]), content, props)
		content = append(out, content[pe:]...)
	}
	if len(headers) > 0xffff {
		return errHeaderMapTooLarge(len(headers))
	}
	fixed := f.Marks[markHeaders]
	out := make([]byte, 0, fixed+len(headers)+len(content)+4)
	out = append(out, raw[:fixed]...)
	binary.BigEndian.PutUint16(out[f.Marks[markHeaderFields]+2:], uint16(len(headers)))
	binary.BigEndian.PutUint32(out[f.Marks[markHeaderFields]+4:], uint32(len(content)))
	out = append(append(out, headers...), content...)
	if f.Flags&flagCRC != 0 {
		out = append(out, 0, 0, 0, 0)
	}
	if err := finish(f, out); err != nil {
		return err
	}
	return buf.Append(out)
}

// finish sets the request id and, for Bolt v2 with CRC, the checksum.
func finish(f *kit.Frame, frame []byte) error {
	boltwire.SetRequestID(frame, byte(f.Flags), uint32(f.ID))
	if f.Flags&flagCRC != 0 {
		n := len(frame) - 4
		binary.BigEndian.PutUint32(frame[n:], crc32.ChecksumIEEE(frame[:n]))
	}
	return nil
}

func appendGroup(dst []byte, f *kit.Frame, g uint8) []byte {
	for _, h := range f.Headers() {
		if h.Group == g && !h.Deleted {
			dst = boltwire.AppendHeader(dst, h.Key, h.Value)
		}
	}
	return dst
}

func (Wire) Match(b []byte) api.MatchResult {
	switch {
	case len(b) == 0:
		return api.MatchAgain
	case b[0] == boltwire.ProtoV1 || b[0] == boltwire.ProtoV2:
		return api.MatchSuccess
	}
	return api.MatchFailed
}

// NativeStatus maps MOSN's failures as MOSN's own bolt codec does, with
// rate limits as "server busy".
func (Wire) NativeStatus(code int) uint32 {
	switch code {
	case http.StatusOK:
		return uint32(boltwire.StatusSuccess)
	case api.RouterUnavailableCode, api.NoHealthUpstreamCode:
		return uint32(boltwire.StatusNoProcessor)
	case api.UpstreamOverFlowCode, api.LimitExceededCode, http.StatusTooManyRequests:
		return uint32(boltwire.StatusServerThreadpool)
	case api.CodecExceptionCode:
		return uint32(boltwire.StatusCodecException)
	case api.DeserialExceptionCode, http.StatusBadRequest:
		return uint32(boltwire.StatusServerDeserialException)
	case api.TimeoutExceptionCode:
		return uint32(boltwire.StatusTimeout)
	case api.PermissionDeniedCode:
		return uint32(boltwire.StatusServerException)
	}
	return uint32(boltwire.StatusUnknown)
}

// HTTPStatus maps a Bolt status as MOSN's bolt codec does.
func (Wire) HTTPStatus(s uint32) int {
	switch uint16(s) {
	case boltwire.StatusSuccess:
		return http.StatusOK
	case boltwire.StatusServerThreadpool:
		return http.StatusServiceUnavailable
	case boltwire.StatusTimeout:
		return http.StatusGatewayTimeout
	case boltwire.StatusConnectionClosed:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}
