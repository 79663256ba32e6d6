package rpcmeta

import "fmt"

// Values of a codec's upstream_connections option: whether the calls of
// different client connections may share an upstream connection.
const (
	// UpstreamAuto lets the codec decide per kind of message (Thrift: per
	// client for unframed messages, shared otherwise; Dubbo: shared).
	UpstreamAuto = "auto"
	// UpstreamPerClient gives every client connection upstream
	// connections of its own (MOSN's binding pool): whatever a server
	// does to a connection over one message reaches only the client that
	// sent it.
	UpstreamPerClient = "per_client"
	// UpstreamShared multiplexes every client's calls onto MOSN's shared
	// connections, told apart by request ids.
	UpstreamShared = "shared"
)

// CheckUpstreamConnections names a bad upstream_connections value of
// protocol's config.
func CheckUpstreamConnections(protocol, v string) error {
	switch v {
	case "", UpstreamAuto, UpstreamPerClient, UpstreamShared:
		return nil
	}
	return fmt.Errorf("%s config: upstream_connections %q: want %s, %s or %s", protocol, v, UpstreamAuto, UpstreamPerClient, UpstreamShared)
}
