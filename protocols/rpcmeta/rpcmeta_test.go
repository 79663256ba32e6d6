package rpcmeta

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsReserved(t *testing.T) {
	for _, k := range []string{KeyProtocol, KeyService, KeyMethod, KeyVersion, KeyGroup, KeyStatus, "x-rpc-anything"} {
		assert.True(t, IsReserved(k), k)
	}
	for _, k := range []string{"x-tag", "interface", "x-rpcservice", ""} {
		assert.False(t, IsReserved(k), k)
	}
}

func TestErrorsSayWhatAndWrap(t *testing.T) {
	ce := &ConnError{Protocol: "dubbo", Reason: "bad magic", Err: io.ErrUnexpectedEOF}
	assert.Equal(t, "dubbo: connection error: bad magic: unexpected EOF", ce.Error())
	assert.True(t, errors.Is(ce, io.ErrUnexpectedEOF))
	assert.Equal(t, "thrift: connection error: x", (&ConnError{Protocol: "thrift", Reason: "x"}).Error())

	se := &StreamError{Protocol: "thrift", RequestID: 7, Reason: "malformed body", Err: io.EOF}
	assert.Equal(t, "thrift: request 7: malformed body: EOF", se.Error())
	assert.True(t, errors.Is(se, io.EOF))
	var target *StreamError
	assert.True(t, errors.As(error(se), &target))
}
