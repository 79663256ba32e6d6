// Package dubbopeer implements small but real Dubbo 2 peers (a pipelining
// consumer Client and a multiplexing provider Server) that speak the Dubbo 2
// wire protocol with hessian2 bodies. Hessian values are encoded and decoded
// with github.com/apache/dubbo-go-hessian2; the 16-byte frame header is
// written by this package.
//
// The peers are meant for tests and demos of proxies (MOSN) that sit between
// a Dubbo consumer and a Dubbo provider. The exported Encode* functions create
// byte-exact fixtures from the same implementation.
//
// Frames produced here are deterministic: attachment maps are written as an
// untyped hessian map ('H' ... 'Z') with keys in sorted order (the
// dubbo-go-hessian2 high-level codec writes them in Go map iteration order).
package dubbopeer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/apache/dubbo-go-hessian2/java_exception"
)

// Wire constants of the Dubbo 2 protocol.
const (
	HeaderLength = 16
	MagicHigh    = byte(0xda)
	MagicLow     = byte(0xbb)

	FlagRequest       = byte(0x80)
	FlagTwoWay        = byte(0x40)
	FlagEvent         = byte(0x20)
	SerializationMask = byte(0x1f)

	// SerializationHessian2 is the serialization id of hessian2.
	SerializationHessian2 = byte(2)

	// DubboVersion is the protocol version written as the first body field
	// of requests and as the "dubbo" response attachment.
	DubboVersion = "2.0.2"

	// MaxBodyLength is Dubbo's default payload limit (8 MiB).
	MaxBodyLength = 8 << 20
)

// Response status codes.
const (
	StatusOK              = byte(20)
	StatusClientTimeout   = byte(30)
	StatusServerTimeout   = byte(31)
	StatusBadRequest      = byte(40)
	StatusBadResponse     = byte(50)
	StatusServiceNotFound = byte(60)
	StatusServiceError    = byte(70)
	StatusServerError     = byte(80)
	StatusClientError     = byte(90)
)

// Response body types (the leading int of an OK response body).
const (
	ResponseWithException                int32 = 0
	ResponseValue                        int32 = 1
	ResponseNullValue                    int32 = 2
	ResponseWithExceptionWithAttachments int32 = 3
	ResponseValueWithAttachments         int32 = 4
	ResponseNullValueWithAttachments     int32 = 5
)

// Standard attachment keys.
const (
	AttachmentPath      = "path"
	AttachmentInterface = "interface"
	AttachmentVersion   = "version"
	AttachmentGroup     = "group"
	AttachmentTimeout   = "timeout"
	AttachmentDubbo     = "dubbo"
)

// DefaultExceptionClass is the Java class used for ServerResponse.Exception.
const DefaultExceptionClass = "java.lang.RuntimeException"

// Errors returned by frame parsing.
var (
	ErrBadMagic     = errors.New("dubbopeer: bad magic")
	ErrBodyTooLarge = errors.New("dubbopeer: body too large")
)

// Header is a decoded 16-byte Dubbo header.
type Header struct {
	Flag       byte // request/two-way/event bits and serialization id
	Status     byte // response status (0 on requests)
	ID         uint64
	BodyLength uint32
}

// IsRequest reports whether the request bit is set.
func (h Header) IsRequest() bool { return h.Flag&FlagRequest != 0 }

// IsTwoWay reports whether the two-way bit is set.
func (h Header) IsTwoWay() bool { return h.Flag&FlagTwoWay != 0 }

// IsEvent reports whether the event (heartbeat) bit is set.
func (h Header) IsEvent() bool { return h.Flag&FlagEvent != 0 }

// SerializationID returns the low 5 bits of the flag byte.
func (h Header) SerializationID() byte { return h.Flag & SerializationMask }

// Bytes encodes the header.
func (h Header) Bytes() [HeaderLength]byte {
	var b [HeaderLength]byte
	b[0], b[1], b[2], b[3] = MagicHigh, MagicLow, h.Flag, h.Status
	binary.BigEndian.PutUint64(b[4:12], h.ID)
	binary.BigEndian.PutUint32(b[12:16], h.BodyLength)
	return b
}

// ParseHeader decodes the first 16 bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLength {
		return Header{}, io.ErrUnexpectedEOF
	}
	if b[0] != MagicHigh || b[1] != MagicLow {
		return Header{}, fmt.Errorf("%w: % x", ErrBadMagic, b[:2])
	}
	return Header{
		Flag:       b[2],
		Status:     b[3],
		ID:         binary.BigEndian.Uint64(b[4:12]),
		BodyLength: binary.BigEndian.Uint32(b[12:16]),
	}, nil
}

// Frame is one complete Dubbo frame.
type Frame struct {
	Header Header
	Raw    [HeaderLength]byte // the header bytes as received
	Body   []byte
}

// ReadFrame reads one frame from r.
func ReadFrame(r io.Reader) (*Frame, error) {
	f := &Frame{}
	if _, err := io.ReadFull(r, f.Raw[:]); err != nil {
		return nil, err
	}
	h, err := ParseHeader(f.Raw[:])
	if err != nil {
		return nil, err
	}
	if h.BodyLength > MaxBodyLength {
		return nil, fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, h.BodyLength)
	}
	f.Header = h
	f.Body = make([]byte, h.BodyLength)
	if _, err := io.ReadFull(r, f.Body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return f, nil
}

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }

// Invocation describes one RPC call.
type Invocation struct {
	Service string // interface name, written as the path field
	Method  string
	Version string
	Group   string
	// ParamTypes is the JVM descriptor of the parameter types, e.g.
	// "Ljava/lang/String;I". When empty it is derived from Args with
	// dubbo-go-hessian2's own rules (see ParamTypesOf).
	ParamTypes  string
	Args        []interface{}
	Attachments map[string]string
	// Timeout bounds the call on the client and is sent as the "timeout"
	// attachment (milliseconds). Zero means the client's default timeout.
	Timeout time.Duration
}

// ParamTypesOf returns the parameter descriptor that dubbo-go-hessian2 would
// write for args (Go int/int64 -> J, int32 -> I, string ->
// Ljava/lang/String;, maps -> Ljava/util/Map;, nil -> V, ...). It runs the
// library's own request packer and reads the descriptor back.
func ParamTypesOf(args []interface{}) (string, error) {
	if len(args) == 0 {
		return "", nil
	}
	codec := hessian.NewHessianCodec(nil)
	frame, err := codec.Write(hessian.Service{},
		hessian.DubboHeader{SerialID: SerializationHessian2, Type: hessian.PackageRequest_TwoWay},
		hessian.NewRequest(args, nil))
	if err != nil {
		return "", err
	}
	d := hessian.NewDecoder(frame[HeaderLength:])
	for i := 0; i < 4; i++ { // dubbo version, path, version, method
		if _, err := d.Decode(); err != nil {
			return "", err
		}
	}
	v, err := d.Decode()
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// RequestAttachments returns the attachments the client writes for inv: the
// ones Java Dubbo's invoker sets (path, interface, version, group when set,
// timeout when inv.Timeout > 0) overlaid with inv.Attachments (caller
// attachments win, which lets tests send inconsistent values on purpose).
func RequestAttachments(inv *Invocation) map[string]string {
	m := make(map[string]string, len(inv.Attachments)+5)
	m[AttachmentPath] = inv.Service
	m[AttachmentInterface] = inv.Service
	m[AttachmentVersion] = inv.Version
	if inv.Group != "" {
		m[AttachmentGroup] = inv.Group
	}
	if inv.Timeout > 0 {
		m[AttachmentTimeout] = strconv.FormatInt(int64(inv.Timeout/time.Millisecond), 10)
	}
	for k, v := range inv.Attachments {
		m[k] = v
	}
	return m
}

// encodeStringMap writes m as an untyped hessian map ('H' k v ... 'Z') with
// sorted keys so frames are byte-for-byte reproducible.
func encodeStringMap(e *hessian.Encoder, m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.Append([]byte{hessian.BC_MAP_UNTYPED})
	for _, k := range keys {
		if err := e.Encode(k); err != nil {
			return err
		}
		if err := e.Encode(m[k]); err != nil {
			return err
		}
	}
	e.Append([]byte{hessian.BC_END})
	return nil
}

func newFrameEncoder(flag, status byte, id uint64) *hessian.Encoder {
	h := Header{Flag: flag, Status: status, ID: id}.Bytes()
	e := hessian.NewEncoder()
	e.Append(h[:])
	return e
}

func finishFrame(e *hessian.Encoder) ([]byte, error) {
	buf := e.Buffer()
	n := len(buf) - HeaderLength
	if n > MaxBodyLength {
		return nil, fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, n)
	}
	binary.BigEndian.PutUint32(buf[12:16], uint32(n))
	return buf, nil
}

// EncodeRequestFrame encodes a hessian2 request frame: flag 0x80 (|0x40 when
// twoWay) | serialization 2, body = dubbo version "2.0.2", path, version,
// method, param descriptor, args..., attachments (see RequestAttachments).
func EncodeRequestFrame(id uint64, inv *Invocation, twoWay bool) ([]byte, error) {
	if inv == nil {
		return nil, errors.New("dubbopeer: nil invocation")
	}
	types := inv.ParamTypes
	if types == "" && len(inv.Args) > 0 {
		var err error
		if types, err = ParamTypesOf(inv.Args); err != nil {
			return nil, fmt.Errorf("dubbopeer: deriving parameter types: %w", err)
		}
	}
	flag := FlagRequest | SerializationHessian2
	if twoWay {
		flag |= FlagTwoWay
	}
	e := newFrameEncoder(flag, 0, id)
	for _, s := range []string{DubboVersion, inv.Service, inv.Version, inv.Method, types} {
		if err := e.Encode(s); err != nil {
			return nil, err
		}
	}
	for i, a := range inv.Args {
		if err := e.Encode(a); err != nil {
			return nil, fmt.Errorf("dubbopeer: encoding arg %d (%T): %w", i, a, err)
		}
	}
	if err := encodeStringMap(e, RequestAttachments(inv)); err != nil {
		return nil, err
	}
	return finishFrame(e)
}

// EncodeHeartbeat encodes a heartbeat event frame with a hessian null body
// ('N'). A request has flag 0xe2 (request|two-way|event|hessian2); a
// response has flag 0x22 and status 20.
func EncodeHeartbeat(id uint64, isRequest bool) []byte {
	flag, status := FlagEvent|SerializationHessian2, StatusOK
	if isRequest {
		flag |= FlagRequest | FlagTwoWay
		status = 0
	}
	h := Header{Flag: flag, Status: status, ID: id, BodyLength: 1}.Bytes()
	return append(h[:], hessian.BC_NULL)
}

// ServerResponse is what a Handler returns.
type ServerResponse struct {
	// Status is the header status; 0 means 20 (OK).
	Status byte
	// Value is the return value of an OK response (nil -> "null value").
	Value interface{}
	// Exception, when non-empty on an OK response, makes it an exception
	// response carrying a java.lang.RuntimeException (or ExceptionClass)
	// with this detail message.
	Exception string
	// ExceptionClass optionally names the Java exception class, one of
	// ExceptionClasses (default java.lang.RuntimeException).
	ExceptionClass string
	// ErrorMessage is the body (a hessian string) of a non-OK response.
	ErrorMessage string
	// Attachments, when non-empty, switch the response type to 3/4/5 and
	// are written after the value, with "dubbo": "2.0.2" added like Java
	// Dubbo and dubbo-go do.
	Attachments map[string]string
	// Delay makes the server wait before writing the response.
	Delay time.Duration
	// TrailingNull appends an extra hessian null ('N') after the body, as
	// dubbo-go-hessian2's own response packer does.
	TrailingNull bool
}

// ExceptionClasses lists the values ServerResponse.ExceptionClass accepts
// (classes that dubbo-go-hessian2 predefines as Go types).
var ExceptionClasses = []string{
	DefaultExceptionClass, "java.lang.Exception", "java.lang.Throwable",
	"java.lang.IllegalArgumentException", "java.lang.IllegalStateException",
	"java.lang.NullPointerException", "java.lang.UnsupportedOperationException",
}

func newException(class, msg string) interface{} {
	switch class {
	case "", DefaultExceptionClass:
		return java_exception.NewRuntimeException(msg)
	case "java.lang.Exception":
		return java_exception.NewException(msg)
	case "java.lang.Throwable":
		return java_exception.NewThrowable(msg)
	case "java.lang.IllegalArgumentException":
		return java_exception.NewIllegalArgumentException(msg)
	case "java.lang.IllegalStateException":
		return java_exception.NewIllegalStateException(msg)
	case "java.lang.NullPointerException":
		return java_exception.NewNullPointerException(msg)
	case "java.lang.UnsupportedOperationException":
		return java_exception.NewUnsupportedOperationException(msg)
	}
	return nil
}

// EncodeResponseFrame encodes a response frame for request id. With event
// set it is an event (heartbeat) response whose body is resp.Value (nil ->
// 'N'). Non-OK statuses carry resp.ErrorMessage as a hessian string. OK
// responses carry the response type int, then the exception object or value,
// then (types 3/4/5) the attachment map.
func EncodeResponseFrame(id uint64, resp *ServerResponse, event bool) ([]byte, error) {
	if resp == nil {
		resp = &ServerResponse{}
	}
	status := resp.Status
	if status == 0 {
		status = StatusOK
	}
	flag := SerializationHessian2
	if event {
		flag |= FlagEvent
	}
	e := newFrameEncoder(flag, status, id)
	var err error
	switch {
	case status != StatusOK:
		err = e.Encode(resp.ErrorMessage)
	case event:
		err = e.Encode(resp.Value)
	default:
		err = encodeOKBody(e, resp)
	}
	if err != nil {
		return nil, err
	}
	if resp.TrailingNull {
		e.Append([]byte{hessian.BC_NULL})
	}
	return finishFrame(e)
}

func encodeOKBody(e *hessian.Encoder, resp *ServerResponse) error {
	withAtt := len(resp.Attachments) > 0
	var typ int32
	switch {
	case resp.Exception != "":
		typ = ResponseWithException
	case resp.Value == nil:
		typ = ResponseNullValue
	default:
		typ = ResponseValue
	}
	if withAtt {
		typ += 3
	}
	if err := e.Encode(typ); err != nil {
		return err
	}
	switch typ {
	case ResponseWithException, ResponseWithExceptionWithAttachments:
		ex := newException(resp.ExceptionClass, resp.Exception)
		if ex == nil {
			return fmt.Errorf("dubbopeer: unsupported exception class %q", resp.ExceptionClass)
		}
		if err := e.Encode(ex); err != nil {
			return fmt.Errorf("dubbopeer: encoding exception: %w", err)
		}
	case ResponseValue, ResponseValueWithAttachments:
		if err := e.Encode(resp.Value); err != nil {
			return fmt.Errorf("dubbopeer: encoding value (%T): %w", resp.Value, err)
		}
	}
	if withAtt {
		att := make(map[string]string, len(resp.Attachments)+1)
		att[AttachmentDubbo] = DubboVersion
		for k, v := range resp.Attachments {
			att[k] = v
		}
		return encodeStringMap(e, att)
	}
	return nil
}

// ServerRequest is a decoded request as seen by a Handler.
type ServerRequest struct {
	DubboVersion string
	Service      string // the path field
	Version      string
	Method       string
	ParamTypes   string
	Args         []interface{}
	// Attachments holds the string-valued entries of the attachment map
	// exactly as sent (no "dubbo" key is added).
	Attachments map[string]string
	RequestID   uint64
	TwoWay      bool
	Header      [HeaderLength]byte
	RemoteAddr  string
}

// Group returns the "group" attachment.
func (r *ServerRequest) Group() string { return r.Attachments[AttachmentGroup] }

// Interface returns the "interface" attachment, or the path.
func (r *ServerRequest) Interface() string {
	if s := r.Attachments[AttachmentInterface]; s != "" {
		return s
	}
	return r.Service
}

// DecodeRequest decodes a non-event request frame. The returned request is
// never nil (header fields are filled even when the body is bad).
func DecodeRequest(f *Frame) (req *ServerRequest, err error) {
	defer recoverDecode(&err)
	req = &ServerRequest{
		RequestID: f.Header.ID,
		TwoWay:    f.Header.IsTwoWay(),
		Header:    f.Raw,
	}
	if sid := f.Header.SerializationID(); sid != SerializationHessian2 {
		return req, fmt.Errorf("dubbopeer: unsupported serialization id %d", sid)
	}
	d := hessian.NewDecoder(f.Body)
	fields := []*string{&req.DubboVersion, &req.Service, &req.Version, &req.Method, &req.ParamTypes}
	names := []string{"dubbo version", "path", "version", "method", "parameter types"}
	for i, p := range fields {
		v, err := d.Decode()
		if err != nil {
			return req, fmt.Errorf("dubbopeer: decoding %s: %w", names[i], err)
		}
		if v != nil {
			s, ok := v.(string)
			if !ok {
				return req, fmt.Errorf("dubbopeer: %s is %T, want string", names[i], v)
			}
			*p = s
		}
	}
	n := len(hessian.DescRegex.FindAllString(req.ParamTypes, -1))
	req.Args = make([]interface{}, 0, n)
	for i := 0; i < n; i++ {
		v, err := d.Decode()
		if err != nil {
			return req, fmt.Errorf("dubbopeer: decoding arg %d: %w", i, err)
		}
		req.Args = append(req.Args, v)
	}
	v, err := d.Decode()
	if err != nil {
		if errors.Is(err, io.EOF) {
			req.Attachments = map[string]string{}
			return req, nil
		}
		return req, fmt.Errorf("dubbopeer: decoding attachments: %w", err)
	}
	att, err := toStringMap(v)
	if err != nil {
		return req, err
	}
	req.Attachments = att
	return req, nil
}

// recoverDecode turns a panic inside the hessian decoder (possible on
// malformed input) into an error.
func recoverDecode(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("dubbopeer: malformed hessian body: %v", p)
	}
}

func toStringMap(v interface{}) (map[string]string, error) {
	switch m := v.(type) {
	case nil:
		return map[string]string{}, nil
	case map[interface{}]interface{}:
		return hessian.ToMapStringString(m), nil
	case map[string]string:
		return m, nil
	case map[string]interface{}:
		out := make(map[string]string, len(m))
		for k, x := range m {
			if s, ok := x.(string); ok {
				out[k] = s
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("dubbopeer: attachments are %T, want a map", v)
}

// Result is the outcome of a Call. Dubbo-level failures (non-OK status,
// exception responses) are reported here, not as errors.
type Result struct {
	Status byte
	Value  interface{}
	// Exception is the detail message of an exception response (types 0/3);
	// ExceptionClass is the Java class name when known.
	Exception      string
	ExceptionClass string
	// ErrorMessage is the body of a non-OK status response.
	ErrorMessage string
	// Attachments are the response attachments (types 3/4/5), else nil.
	Attachments map[string]string
	// ResponseType is the leading int of an OK body (-1 otherwise).
	ResponseType int32
	RequestID    uint64
	Header       [HeaderLength]byte
}

// OK reports whether the call succeeded at the Dubbo level.
func (r *Result) OK() bool {
	return r.Status == StatusOK && r.Exception == "" && r.ExceptionClass == ""
}

// DecodeResponse decodes a response frame (event responses included). The
// returned result is never nil.
func DecodeResponse(f *Frame) (res *Result, err error) {
	defer recoverDecode(&err)
	res = &Result{Status: f.Header.Status, RequestID: f.Header.ID, Header: f.Raw, ResponseType: -1}
	if len(f.Body) == 0 {
		return res, nil
	}
	if sid := f.Header.SerializationID(); sid != SerializationHessian2 {
		return res, fmt.Errorf("dubbopeer: unsupported serialization id %d", sid)
	}
	d := hessian.NewDecoder(f.Body)
	if f.Header.Status != StatusOK {
		v, err := d.Decode()
		if err != nil {
			return res, fmt.Errorf("dubbopeer: decoding error message: %w", err)
		}
		if s, ok := v.(string); ok {
			res.ErrorMessage = s
		} else if v != nil {
			res.ErrorMessage = fmt.Sprint(v)
		}
		return res, nil
	}
	if f.Header.IsEvent() {
		v, err := d.Decode()
		if err != nil {
			return res, fmt.Errorf("dubbopeer: decoding event body: %w", err)
		}
		res.Value = v
		return res, nil
	}
	tv, err := d.Decode()
	if err != nil {
		return res, fmt.Errorf("dubbopeer: decoding response type: %w", err)
	}
	typ, ok := toInt32(tv)
	if !ok {
		return res, fmt.Errorf("dubbopeer: response type is %T(%v), want int", tv, tv)
	}
	res.ResponseType = typ
	switch typ {
	case ResponseWithException, ResponseWithExceptionWithAttachments:
		v, err := d.Decode()
		if err != nil {
			return res, fmt.Errorf("dubbopeer: decoding exception: %w", err)
		}
		res.ExceptionClass, res.Exception = describeException(v)
	case ResponseValue, ResponseValueWithAttachments:
		v, err := d.Decode()
		if err != nil {
			return res, fmt.Errorf("dubbopeer: decoding value: %w", err)
		}
		res.Value = v
	case ResponseNullValue, ResponseNullValueWithAttachments:
	default:
		return res, fmt.Errorf("dubbopeer: unknown response type %d", typ)
	}
	if typ >= ResponseWithExceptionWithAttachments {
		v, err := d.Decode()
		if err != nil {
			return res, fmt.Errorf("dubbopeer: decoding response attachments: %w", err)
		}
		if res.Attachments, err = toStringMap(v); err != nil {
			return res, err
		}
	}
	return res, nil
}

func toInt32(v interface{}) (int32, bool) {
	switch n := v.(type) {
	case int32:
		return n, true
	case int64:
		return int32(n), true
	case int:
		return int32(n), true
	}
	return 0, false
}

// describeException extracts (class, message) from a decoded exception.
func describeException(v interface{}) (class, msg string) {
	if v == nil {
		return "null", ""
	}
	if s, ok := v.(string); ok {
		return "", s
	}
	if t, ok := v.(interface{ JavaClassName() string }); ok {
		class = t.JavaClassName()
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Ptr && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.Struct {
		if f := rv.FieldByName("DetailMessage"); f.IsValid() && f.Kind() == reflect.String {
			msg = f.String()
			if class == "" {
				class = rv.Type().String()
			}
			return class, msg
		}
	}
	if err, ok := v.(error); ok {
		msg = err.Error()
	} else {
		msg = fmt.Sprint(v)
	}
	if class == "" {
		class = fmt.Sprintf("%T", v)
	}
	return class, msg
}
