// Package sofarpc reads what a proxy routes on from the content of a
// SOFARPC request: the head of a hessian com.alipay.sofa.rpc.core.request.
// SofaRequest (method name, target service, request props) without
// decoding the arguments behind it, and writes changed request props back.
// sofa-rpc-node and SOFARPC Java put the method and the props only there,
// not in the Bolt header map. Both dialects are read: the Hessian 2 draft
// (sofa-hessian-node's default) and Hessian 2.0 (its "4.0").
package sofarpc

import (
	"errors"
	"fmt"

	"github.com/meshproto/meshproto/internal/hessian2"
	"github.com/meshproto/meshproto/internal/zerocopy"
)

// Dialect is the hessian flavour of a content.
type Dialect uint8

// Dialects.
const (
	Draft Dialect = iota + 1 // Hessian 2 draft: 'O' class definitions
	V2                       // Hessian 2.0: 'C' class definitions
)

// Request is the SofaRequest head. Strings are views of the content.
type Request struct {
	Dialect Dialect
	Method  string
	Service string // targetServiceUniqueName, "interface:version"
	// PropsStart:PropsEnd is the requestProps value (a map or null) in
	// the content; PropsStart is -1 when the object has no such field.
	PropsStart, PropsEnd int
}

// Prop is one request prop as Parse reports it: a string value, or the
// bytes [RawStart, RawEnd) of any other value.
type Prop struct {
	Key, Value       string
	RawStart, RawEnd int
}

// ErrNotRequest: the content does not start with a SofaRequest class
// definition in either dialect.
var ErrNotRequest = errors.New("sofarpc: content is no hessian SofaRequest")

const (
	fieldMethod = iota + 1
	fieldService
	fieldProps
	fieldSigs
)

// requestClass is the class a SofaRequest content defines first.
const requestClass = "com.alipay.sofa.rpc.core.request.SofaRequest"

// requestFields are SofaRequest's serialized fields, in the order both
// sofa-rpc-node and SOFARPC Java (declaration order, methodArgs being
// transient) write them.
var requestFields = [...]string{"methodName", "methodArgSigs", "targetServiceUniqueName", "targetAppName", "requestProps"}

// errFieldLayout: a SofaRequest definition with other fields, or these in
// another order. A server fails on unknown fields (sofa-rpc-node closes the
// connection), and sofa-rpc-node's server caches class definitions per
// connection by name and field count: a reordered definition sent first on
// a connection makes it decode every later request on that connection,
// which a proxy shares between clients, with the wrong layout. So the
// request is refused here.
var errFieldLayout = fmt.Errorf("sofarpc: SofaRequest fields are not SOFARPC's %v, in that order", requestFields)

// fieldKind says what field i of a SofaRequest definition is read for, or
// -1 if it is not SOFARPC's field i.
func fieldKind(i int, name []byte) int {
	if i >= len(requestFields) || string(name) != requestFields[i] {
		return -1
	}
	return [...]int{fieldMethod, fieldSigs, fieldService, 0, fieldProps}[i]
}

// className reads the name of the class definition at the start of
// content: 'O' int name (the draft) or 'C' string (Hessian 2.0).
func className(content []byte) string {
	if content[0] == 'O' {
		d := draft{b: content, pos: 1}
		n, err := d.readInt()
		if err != nil || n < 0 || n > int64(len(content)-d.pos) {
			return ""
		}
		return string(content[d.pos : d.pos+int(n)])
	}
	var r hessian2.Reader
	r.SetJavaUTF8(true)
	r.Reset(content[1:])
	name, _, err := r.ReadStringBytes()
	if err != nil {
		return ""
	}
	return string(name)
}

// Parse reads the SofaRequest at the start of content, calls prop for each
// request prop (an error from prop stops it), and checks that the
// arguments after it are well-formed hessian.
func Parse(content []byte, prop func(Prop) error) (Request, error) {
	if len(content) == 0 {
		return Request{}, ErrNotRequest
	}
	if content[0] != 'O' && content[0] != 'C' {
		return Request{}, ErrNotRequest
	}
	if name := className(content); name != requestClass {
		return Request{}, fmt.Errorf("%w (its class is %q)", ErrNotRequest, name)
	}
	if content[0] == 'O' {
		return parseDraft(content, prop)
	}
	return parseV2(content, prop)
}

// DialectOf guesses the dialect of a content from its first byte (the
// draft, sofa-hessian-node's default, unless it starts like Hessian 2.0).
func DialectOf(content []byte) Dialect {
	if len(content) > 0 && (content[0] == 'C' || content[0] >= 0x60 && content[0] <= 0x6f) {
		return V2
	}
	return Draft
}

// kinds maps the object's fields to what is read from them.
type kinds [len(requestFields)]uint8

// layout is a SofaRequest class definition as its fields are read, in
// either dialect.
type layout struct {
	k   kinds
	n   int  // fields seen
	bad bool // a field that is not SOFARPC's field at its position
}

func (l *layout) field(i int, name []byte) {
	kind := fieldKind(i, name)
	l.bad = l.bad || kind < 0
	if kind > 0 {
		l.k[i] = uint8(kind)
	}
	l.n = i + 1
}

func (l *layout) check() error {
	if l.bad || l.n != len(requestFields) {
		return errFieldLayout
	}
	return nil
}

func parseDraft(content []byte, prop func(Prop) error) (Request, error) {
	d := draft{b: content}
	var l layout
	if err := d.classDef(l.field); err != nil {
		return Request{}, fmt.Errorf("sofarpc: class definition: %w", err)
	}
	if err := l.check(); err != nil {
		return Request{}, err
	}
	k, n := l.k, l.n
	if t, _ := d.peek(); t != 'o' {
		return Request{}, fmt.Errorf("sofarpc: %w", d.fail("expected the SofaRequest instance"))
	}
	fields, err := d.instance()
	if err != nil {
		return Request{}, err
	}
	r := Request{Dialect: Draft, PropsStart: -1}
	sigs := -1
	for i := 0; i < fields && i < n; i++ {
		switch k[i] {
		case fieldSigs:
			switch t, _ := d.peek(); t {
			case 'N':
				d.pos++
				sigs = 0
			case 'V', 'v':
				var err error
				if sigs, err = d.list(1); err != nil {
					return r, fmt.Errorf("sofarpc: methodArgSigs: %w", err)
				}
			default:
				return r, fmt.Errorf("sofarpc: %w", d.fail("methodArgSigs is not a list"))
			}
		case fieldMethod, fieldService:
			s, _, err := d.readString()
			if err != nil {
				return r, fmt.Errorf("sofarpc: field %d: %w", i, err)
			}
			if k[i] == fieldMethod {
				r.Method = view(s, content)
			} else {
				r.Service = view(s, content)
			}
		case fieldProps:
			r.PropsStart = d.pos
			if err := d.props(prop); err != nil {
				return r, fmt.Errorf("sofarpc: requestProps: %w", err)
			}
			r.PropsEnd = d.pos
		default:
			if err := d.skip(1); err != nil {
				return r, fmt.Errorf("sofarpc: field %d: %w", i, err)
			}
		}
	}
	if err := d.skipN(fields-min(fields, n), 0); err != nil {
		return r, fmt.Errorf("sofarpc: SofaRequest fields: %w", err)
	}
	// The arguments: a server that cannot read them closes the connection,
	// which a proxy shares between clients, so they are checked here.
	args := 0
	for ; d.pos < len(d.b); args++ {
		if err := d.skip(1); err != nil {
			return r, fmt.Errorf("sofarpc: argument %d: %w", args, err)
		}
	}
	return r, checkArgs(sigs, args)
}

// props reads a draft map of request props, or null.
func (d *draft) props(prop func(Prop) error) error {
	t, err := d.peek()
	if err != nil {
		return err
	}
	if t == 'N' {
		d.pos++
		return nil
	}
	if t != 'M' {
		return d.fail("expected a map")
	}
	d.pos++
	if err := d.skipType(); err != nil {
		return err
	}
	for {
		if t, err = d.peek(); err != nil {
			return err
		}
		if t == 'z' {
			d.pos++
			return nil
		}
		key, null, err := d.readString()
		if err != nil || null {
			return d.fail("prop key is not a string")
		}
		p := Prop{Key: view(key, d.b)}
		if t, _ := d.peek(); t <= 0x1f || t == 'S' || t == 's' {
			v, _, err := d.readString()
			if err != nil {
				return err
			}
			p.Value = view(v, d.b)
		} else {
			p.RawStart = d.pos
			if err := d.skip(2); err != nil {
				return err
			}
			p.RawEnd = d.pos
		}
		if err := prop(p); err != nil {
			return err
		}
	}
}

func parseV2(content []byte, prop func(Prop) error) (Request, error) {
	var r hessian2.Reader
	r.SetJavaUTF8(true)
	r.Reset(content)
	var l layout
	if err := r.ReadClassDef(l.field); err != nil {
		return Request{}, fmt.Errorf("sofarpc: class definition: %w", err)
	}
	if err := l.check(); err != nil {
		return Request{}, err
	}
	k, n := l.k, l.n
	_, fields, err := r.ReadObjectStart()
	if err != nil {
		return Request{}, fmt.Errorf("sofarpc: the SofaRequest instance: %w", err)
	}
	req := Request{Dialect: V2, PropsStart: -1}
	sigs := -1
	for i := 0; i < fields && i < n; i++ {
		switch k[i] {
		case fieldSigs:
			if sigs, _, err = r.SkipList(); err != nil {
				return req, fmt.Errorf("sofarpc: methodArgSigs: %w", err)
			}
		case fieldMethod, fieldService:
			s, _, err := r.ReadStringBytes()
			if err != nil {
				return req, fmt.Errorf("sofarpc: field %d: %w", i, err)
			}
			if k[i] == fieldMethod {
				req.Method = view(s, content)
			} else {
				req.Service = view(s, content)
			}
		case fieldProps:
			req.PropsStart = r.Pos()
			if err := propsV2(&r, content, prop); err != nil {
				return req, fmt.Errorf("sofarpc: requestProps: %w", err)
			}
			req.PropsEnd = r.Pos()
		default:
			if err := r.Skip(); err != nil {
				return req, fmt.Errorf("sofarpc: field %d: %w", i, err)
			}
		}
	}
	for i := n; i < fields; i++ {
		if err := r.Skip(); err != nil {
			return req, fmt.Errorf("sofarpc: field %d: %w", i, err)
		}
	}
	args := 0
	for ; r.Len() > 0; args++ {
		if err := r.Skip(); err != nil {
			return req, fmt.Errorf("sofarpc: argument %d: %w", args, err)
		}
	}
	return req, checkArgs(sigs, args)
}

func propsV2(r *hessian2.Reader, content []byte, prop func(Prop) error) error {
	null, err := r.MapBegin()
	if err != nil || null {
		return err
	}
	for {
		more, err := r.MapNext()
		if err != nil || !more {
			return err
		}
		if !r.PeekIsString() {
			return errors.New("prop key is not a string")
		}
		key, _, err := r.ReadStringBytes()
		if err != nil {
			return err
		}
		p := Prop{Key: view(key, content)}
		if r.PeekIsString() {
			v, _, err := r.ReadStringBytes()
			if err != nil {
				return err
			}
			p.Value = view(v, content)
		} else {
			p.RawStart = r.Pos()
			if err := r.Skip(); err != nil {
				return err
			}
			p.RawEnd = r.Pos()
		}
		if err := prop(p); err != nil {
			return err
		}
	}
}

// checkArgs: a SOFARPC server reads as many arguments as methodArgSigs
// has elements (sofa-rpc-node's runs past the end of the content, or
// stops short, and fails the connection either way), so the counts must
// agree. sigs is -1 when the request has no methodArgSigs field.
func checkArgs(sigs, args int) error {
	if sigs >= 0 && sigs != args {
		return fmt.Errorf("%w: %d arguments for %d methodArgSigs", errArgCount, args, sigs)
	}
	return nil
}

var errArgCount = errors.New("sofarpc: argument count")

// view returns s as a string without copying when it lies inside content
// (a single-chunk string), else as a copy (assembled in scratch).
func view(s, content []byte) string {
	if len(s) == 0 {
		return ""
	}
	if zerocopy.Inside(s, content) {
		return zerocopy.String(s)
	}
	return string(s)
}
