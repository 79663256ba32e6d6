package bolt

import (
	"encoding/binary"
	"fmt"

	"github.com/meshproto/meshproto/internal/boltwire"
	"github.com/meshproto/meshproto/internal/sofarpc"
	"github.com/meshproto/meshproto/protocols/kit"
)

func errUnknownCodec(c byte) error { return fmt.Errorf("bolt: unknown serialization %d", c) }

func errNotSofaRequest(class []byte) error {
	return fmt.Errorf("bolt: hessian request of class %q, not SOFARPC's SofaRequest", class)
}

func errHeaderMapTooLarge(n int) error {
	return fmt.Errorf("bolt: header map of %d bytes over the 65535 the length field holds", n)
}

// Heartbeat is a v1 heartbeat request, as sofa-rpc-node's client sends.
func (Wire) Heartbeat(id uint64) []byte {
	b := make([]byte, 22)
	b[0], b[1], b[4], b[9] = boltwire.ProtoV1, boltwire.TypeRequest, 1, codecHessian
	binary.BigEndian.PutUint32(b[5:], uint32(id))
	binary.BigEndian.PutUint32(b[10:], 3000)
	return b
}

// HeartbeatReply is the ack a Bolt server sends: the request's version,
// type response, heartbeat command, status success.
func (Wire) HeartbeatReply(req *kit.Frame) []byte {
	return response(req, boltwire.CmdHeartbeat, boltwire.StatusSuccess, "", nil)
}

// ErrorReply is a response with the status and, as a sofa-rpc-node or
// SOFARPC server writes one, an RpcServerException whose detailMessage is
// msg, in the request's hessian dialect.
func (Wire) ErrorReply(req *kit.Frame, status uint32, msg string) []byte {
	return response(req, boltwire.CmdResponse, uint16(status), sofaResponse,
		sofarpc.AppendServerException(nil, sofarpc.Dialect(req.Marks[markDialect]), msg))
}

// response builds a response to req in req's Bolt version.
func response(req *kit.Frame, cmd, status uint16, class string, content []byte) []byte {
	proto, ver1, crc := boltwire.ProtoV1, byte(0), false
	if len(req.Raw) > 1 && req.Raw[0] == boltwire.ProtoV2 {
		proto, ver1, crc = boltwire.ProtoV2, req.Raw[1], req.Flags&flagCRC != 0
	}
	b := []byte{proto}
	if proto == boltwire.ProtoV2 {
		b = append(b, ver1)
	}
	b = append(b, boltwire.TypeResponse)
	b = binary.BigEndian.AppendUint16(b, cmd)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(req.ID))
	b = append(b, codecHessian)
	if proto == boltwire.ProtoV2 {
		sw := byte(0)
		if crc {
			sw = 1
		}
		b = append(b, sw)
	}
	b = binary.BigEndian.AppendUint16(b, status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(class)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(content)))
	b = append(append(b, class...), content...)
	if crc {
		b = binary.BigEndian.AppendUint32(b, 0)
		f := kit.Frame{Raw: b, ID: req.ID, Flags: uint32(proto) | flagCRC}
		_ = finish(&f, b)
	}
	return b
}
