package hessian2

// Reading an object's fields one by one, for bodies whose head is a known
// class (SOFARPC's SofaRequest): the class definition names the fields in
// the order their values follow the instance tag.

// ReadClassDef consumes a class definition ('C' name count field*) and
// calls fn with each field name (valid during the call only). The
// definition is recorded, so later instances can refer to it.
func (r *Reader) ReadClassDef(fn func(i int, field []byte)) error {
	start, defs := r.pos, len(r.classes)
	if start >= len(r.buf) || r.buf[start] != 'C' {
		return r.fail(start, "expected class definition", ErrMalformed)
	}
	r.pos++
	undo := func(err error) error {
		r.pos, r.classes = start, r.classes[:defs]
		return err
	}
	if _, _, err := r.ReadStringBytes(); err != nil {
		return undo(err)
	}
	n, err := r.readIntValue(start)
	if err != nil {
		return undo(err)
	}
	if _, _, err := r.checkCount(start, n); err != nil {
		return undo(err)
	}
	for i := 0; i < int(n); i++ {
		if !r.PeekIsString() {
			return undo(r.fail(r.pos, "field name is not a string", ErrMalformed))
		}
		name, _, err := r.ReadStringBytes()
		if err != nil {
			return undo(err)
		}
		fn(i, name)
	}
	r.classes = append(r.classes, int32(n))
	return nil
}

// ReadObjectStart consumes an object instance tag ('O' index or 0x60+index)
// and returns its class definition's index and field count; the field
// values follow, to be read with ReadStringBytes, MapBegin or Skip.
func (r *Reader) ReadObjectStart() (def, fields int, err error) {
	start := r.pos
	if start >= len(r.buf) {
		return 0, 0, r.fail(start, "expected object, got end of input", ErrTruncated)
	}
	tag := r.buf[start]
	var idx int64
	switch {
	case tag >= 0x60 && tag <= 0x6f:
		idx = int64(tag - 0x60)
		r.pos++
	case tag == 'O':
		r.pos++
		if idx, err = r.readIntValue(start); err != nil {
			r.pos = start
			return 0, 0, err
		}
	default:
		return 0, 0, r.fail(start, "expected object", ErrMalformed)
	}
	if idx < 0 || idx >= int64(len(r.classes)) {
		r.pos = start
		return 0, 0, r.fail(start, "object refers to unknown class definition", ErrMalformed)
	}
	return int(idx), int(r.classes[idx]), nil
}
