package dubbo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/meshproto/meshproto/internal/hessian2"
	"github.com/meshproto/meshproto/internal/zerocopy"
)

// readers are reused across frames: a Reader keeps its class-definition
// table storage, so decoding a request does not allocate for it.
var readers = sync.Pool{New: func() interface{} { return new(hessian2.Reader) }}

// peekHeader checks the bytes available so far. It returns the total frame
// length once the header is complete, 0 while more bytes are needed, and a
// ConnError as soon as the bytes cannot be Dubbo.
func peekHeader(b []byte, maxFrame int) (int, error) {
	if len(b) >= 1 && b[0] != magicHigh || len(b) >= 2 && b[1] != magicLow {
		n := len(b)
		if n > 4 {
			n = 4
		}
		return 0, &ConnError{Protocol: string(ProtocolName), Reason: fmt.Sprintf("bad magic % x, want da bb", b[:n])}
	}
	if len(b) < HeaderLen {
		return 0, nil
	}
	bodyLen := int64(int32(binary.BigEndian.Uint32(b[lenIdx:])))
	if bodyLen < 0 {
		return 0, &ConnError{Protocol: string(ProtocolName), Reason: fmt.Sprintf("negative body length %d", bodyLen)}
	}
	if bodyLen+HeaderLen > int64(maxFrame) {
		return 0, &ConnError{Protocol: string(ProtocolName), Reason: fmt.Sprintf("%d byte frame over limit %d", bodyLen+HeaderLen, maxFrame), Err: ErrFrameTooLarge}
	}
	return int(bodyLen) + HeaderLen, nil
}

// decodeFrame parses one complete frame. raw is owned by the frame from now
// on. A non-nil frame with an error is a StreamError for that request.
//
// A two-way request whose body cannot be read is returned without an
// error but with DecodeError set: MOSN v1.3.0 records, but never sends, the
// error response for a decode error (downStream.OnDecodeError), which
// would leave the client waiting. As a normal request it reaches the
// metadata filter or Hijack, which answer it with status 40.
func decodeFrame(raw []byte, cfg *Config) (*Frame, error) {
	f := &Frame{
		raw:            raw,
		flag:           raw[flagIdx],
		status:         raw[statusIdx],
		id:             binary.BigEndian.Uint64(raw[idIdx:]),
		respType:       -1,
		attachLoaded:   true,
		maxAttachments: cfg.MaxAttachments,
	}
	f.attachments = f.attachArr[:0]
	f.data = newBodyBuffer(raw)
	f.origData = f.data
	f.attachStart = len(raw) - HeaderLen
	f.attachEnd = f.attachStart

	if f.IsEvent() || f.Serialization() != SerializationHessian2 {
		return f, nil
	}
	if f.IsRequest() {
		if err := f.decodeRequestBody(); err != nil {
			f.decodeErr = &StreamError{Protocol: string(ProtocolName), RequestID: f.id, Reason: "malformed request body", Err: err}
			f.attachments = f.attachments[:0]
			if !f.IsTwoWay() {
				// Nobody waits for an answer; MOSN closes the connection.
				return f, f.decodeErr
			}
		}
		return f, nil
	}
	if f.status == StatusOK {
		// The response type decides whether attachments follow the value;
		// the attachments themselves are read only if someone asks.
		r := readers.Get().(*hessian2.Reader)
		defer readers.Put(r)
		r.Reset(f.Body())
		t, err := r.ReadInt()
		if err != nil || t < RespWithException || t > RespNullValueAttachments {
			// An unreadable response body is the provider's problem, not
			// a reason to drop the caller's answer: forward it untouched.
			return f, nil
		}
		f.respType = int8(t)
		f.respTypeLen = r.Pos()
		f.attachLoaded = false
	}
	return f, nil
}

// decodeRequestBody reads the five leading strings, steps over the
// arguments and reads the attachment map.
func (f *Frame) decodeRequestBody() error {
	body := f.Body()
	r := readers.Get().(*hessian2.Reader)
	defer readers.Put(r)
	r.Reset(body)

	fields := [...]*string{&f.dubboVersion, &f.path, &f.version, &f.method, &f.paramTypes}
	names := [...]string{"dubbo version", "service path", "service version", "method", "parameter types"}
	for i, dst := range fields {
		s, err := f.readString(r, body)
		if err != nil {
			return fmt.Errorf("reading %s: %w", names[i], err)
		}
		*dst = s
		if dst == &f.path {
			// Known from here on, so an error response can name it.
			f.service = f.path
		}
	}
	n, err := countParams(f.paramTypes)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := r.Skip(); err != nil {
			return fmt.Errorf("stepping over argument %d of %d: %w", i+1, n, err)
		}
	}
	f.attachStart = r.Pos()
	f.attachEnd = f.attachStart
	if r.Len() > 0 {
		if err := f.readAttachments(r, body); err != nil {
			return err
		}
	}
	f.service = f.path
	for _, a := range f.attachments {
		if a.isRaw() {
			if a.key == attachTimeout {
				f.timeout = rawTimeout(body[a.rawStart:a.rawEnd])
			}
			continue
		}
		switch a.key {
		case attachInterface:
			if a.val != "" {
				f.service = a.val
			}
		case attachVersion:
			if f.version == "" {
				f.version = a.val
			}
		case attachGroup:
			f.group = a.val
		case attachTimeout:
			if ms, err := strconv.Atoi(a.val); err == nil && ms > 0 && ms <= 1<<31-1 {
				f.timeout = int32(ms)
			}
		}
	}
	return nil
}

// rawTimeout reads a timeout attachment written as a hessian2 number.
func rawTimeout(raw []byte) int32 {
	var r hessian2.Reader
	r.Reset(raw)
	ms, err := r.ReadInt()
	if err != nil || ms <= 0 {
		return 0
	}
	return ms
}

// readString reads a string field. A single-chunk string is a view into the
// frame; a chunked one is copied out of the reader's scratch space.
func (f *Frame) readString(r *hessian2.Reader, body []byte) (string, error) {
	b, _, err := r.ReadStringBytes()
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", nil
	}
	if inside(b, body) {
		return zerocopy.String(b), nil
	}
	return string(b), nil
}

// inside reports whether b is a sub-slice of body.
func inside(b, body []byte) bool {
	if len(body) == 0 || len(b) == 0 {
		return false
	}
	start := uintptrOf(body)
	p := uintptrOf(b)
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(body))
}

var errAttachmentKey = errors.New("attachment key is not a string")

// readAttachments reads the map at the reader's position into f.attachments.
func (f *Frame) readAttachments(r *hessian2.Reader, body []byte) error {
	f.attachStart = r.Pos()
	null, err := r.MapBegin()
	if err != nil {
		return fmt.Errorf("reading attachments: %w", err)
	}
	if !null {
		for {
			more, err := r.MapNext()
			if err != nil {
				return fmt.Errorf("reading attachments: %w", err)
			}
			if !more {
				break
			}
			if len(f.attachments) >= f.maxAttachments {
				return fmt.Errorf("reading attachments: more than %d entries", f.maxAttachments)
			}
			if !r.PeekIsString() {
				return fmt.Errorf("reading attachments at offset %d: %w", r.Pos(), errAttachmentKey)
			}
			key, err := f.readString(r, body)
			if err != nil {
				return fmt.Errorf("reading attachment key: %w", err)
			}
			a := attachment{key: key}
			if r.PeekIsString() {
				if a.val, err = f.readString(r, body); err != nil {
					return fmt.Errorf("reading attachment %q: %w", key, err)
				}
			} else {
				start := r.Pos()
				if err := r.Skip(); err != nil {
					return fmt.Errorf("reading attachment %q: %w", key, err)
				}
				a.rawStart, a.rawEnd = int32(start), int32(r.Pos())
			}
			f.attachments = append(f.attachments, a)
		}
	}
	f.attachEnd = r.Pos()
	return nil
}

// loadAttachments reads a response's attachments on first use. Responses
// are forwarded without looking past their type unless a filter asks.
func (f *Frame) loadAttachments() {
	if f.attachLoaded {
		return
	}
	f.attachLoaded = true
	body := f.Body()
	f.attachStart = len(body)
	f.attachEnd = len(body)
	withMap := false
	switch f.respType {
	case RespWithExceptionAttachments, RespValueAttachments, RespNullValueAttachments:
		withMap = true
	case RespWithException, RespValue, RespNullValue:
	default:
		return
	}
	r := readers.Get().(*hessian2.Reader)
	defer readers.Put(r)
	r.Reset(body)
	if err := r.Skip(); err != nil { // the response type
		f.respType = -1
		return
	}
	if f.respType != RespNullValueAttachments && f.respType != RespNullValue {
		if err := r.Skip(); err != nil { // the value or the exception
			// Attachments could not be found again after this value:
			// the response is forwarded untouched, and takes none.
			f.respType = -1
			return
		}
	}
	if !withMap {
		if r.Pos() != len(body) {
			// Bytes after the value: an attachment map appended there
			// would not be where a reader looks for it.
			f.respType = -1
		}
		return
	}
	if err := f.readAttachments(r, body); err != nil {
		// Keep what was read; a response is never rejected for its
		// attachments, and an unreadable map is not rewritten.
		f.attachments = f.attachments[:0]
		f.attachStart, f.attachEnd = len(body), len(body)
		f.respType = -1
	}
}

// countParams counts the parameters in a JVM method descriptor such as
// "Ljava/lang/String;[IJ" (three parameters).
func countParams(desc string) (int, error) {
	n := 0
	inArray := false
	for i := 0; i < len(desc); i++ {
		switch desc[i] {
		case '[':
			inArray = true
			continue
		case 'L':
			j := i + 1
			for j < len(desc) && desc[j] != ';' {
				j++
			}
			if j == len(desc) {
				return 0, fmt.Errorf("parameter types %q: unterminated class name at %d", desc, i)
			}
			i = j
		case 'Z', 'B', 'C', 'D', 'F', 'I', 'J', 'S':
		default:
			return 0, fmt.Errorf("parameter types %q: unexpected %q at %d", desc, desc[i], i)
		}
		inArray = false
		n++
	}
	if inArray {
		return 0, fmt.Errorf("parameter types %q: array without element type", desc)
	}
	return n, nil
}
