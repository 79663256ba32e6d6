package sofarpc

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/meshproto/meshproto/internal/hessian2"
)

// AppendProps appends a requestProps map in dialect d: each entry's key
// and string value, or its raw bytes from content for a non-string value.
func AppendProps(dst []byte, d Dialect, content []byte, props []Prop) []byte {
	if d == V2 {
		dst = hessian2.AppendMapStart(dst)
		for _, p := range props {
			dst = hessian2.AppendString(dst, p.Key)
			dst = appendValue(dst, d, content, p)
		}
		return hessian2.AppendMapEnd(dst)
	}
	dst = append(dst, 'M')
	for _, p := range props {
		dst = appendDraftString(dst, p.Key)
		dst = appendValue(dst, d, content, p)
	}
	return append(dst, 'z')
}

func appendValue(dst []byte, d Dialect, content []byte, p Prop) []byte {
	if p.RawEnd > p.RawStart {
		return append(dst, content[p.RawStart:p.RawEnd]...)
	}
	if d == V2 {
		return hessian2.AppendString(dst, p.Value)
	}
	return appendDraftString(dst, p.Value)
}

// appendDraftString writes s as a draft string: 0x00-0x1f for up to 31
// UTF-16 units, else 'S' chunks of at most 32768 units ('s' before the
// last). Characters outside the BMP count as two units, as in Java.
func appendDraftString(dst []byte, s string) []byte {
	units := 0
	for _, r := range s {
		units++
		if r >= 0x10000 {
			units++
		}
	}
	if units <= 0x1f {
		return append(append(dst, byte(units)), s...)
	}
	for {
		n, i := 0, 0
		for i < len(s) && n < 0x8000 {
			r, size := utf8.DecodeRuneInString(s[i:])
			w := 1
			if r >= 0x10000 {
				w = 2
			}
			if n+w > 0x8000 {
				break
			}
			n, i = n+w, i+size
		}
		tag := byte('S')
		if i < len(s) {
			tag = 's'
		}
		dst = append(dst, tag)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
		dst = append(dst, s[:i]...)
		if i == len(s) {
			return dst
		}
		s = s[i:]
	}
}

const serverException = "com.alipay.remoting.rpc.exception.RpcServerException"

// AppendServerException appends the content a SOFARPC server sends with an
// error status: an RpcServerException (detailMessage msg, stackTrace and
// cause null), in dialect d.
func AppendServerException(dst []byte, d Dialect, msg string) []byte {
	if d == V2 {
		dst = append(dst, 'C')
		dst = hessian2.AppendString(dst, serverException)
		dst = hessian2.AppendInt(dst, 3)
		for _, f := range [...]string{"detailMessage", "stackTrace", "cause"} {
			dst = hessian2.AppendString(dst, f)
		}
		dst = append(dst, 0x60)
		dst = hessian2.AppendString(dst, msg)
		return append(dst, 'N', 'N')
	}
	// The draft writes ints as Hessian 2.0 does; the class name is raw.
	dst = append(dst, 'O')
	dst = hessian2.AppendInt(dst, int32(len(serverException)))
	dst = append(dst, serverException...)
	dst = hessian2.AppendInt(dst, 3)
	for _, f := range [...]string{"detailMessage", "stackTrace", "cause"} {
		dst = appendDraftString(dst, f)
	}
	dst = append(dst, 'o')
	dst = hessian2.AppendInt(dst, 0)
	dst = appendDraftString(dst, msg)
	return append(dst, 'N', 'N')
}
