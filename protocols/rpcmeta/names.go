package rpcmeta

import "sync"

// Protocol names registered at startup by codecs that are not compiled in
// (frame specs), so that filter configs naming them are accepted. This is
// registration: written while MOSN starts, read when filters are built.
var names sync.Map

// RegisterProtocolName records a protocol a loaded codec serves.
func RegisterProtocolName(name string) { names.Store(name, true) }

// ProtocolNameRegistered reports whether RegisterProtocolName saw name.
func ProtocolNameRegistered(name string) bool {
	_, ok := names.Load(name)
	return ok
}
