package thrift

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// DefaultMaxFrameBytes bounds one frame, as Thrift's own default
// max frame size (16 MiB) does.
const DefaultMaxFrameBytes = 16 << 20

// Config tunes the codec. It is read from MOSN's "extends" section with
// type "meshproto_thrift" in the meshproto MOSN binary.
type Config struct {
	// MaxFrameBytes bounds a framed or THeader frame, and the bytes an
	// unframed message may take before it is complete.
	MaxFrameBytes int `json:"max_frame_bytes,omitempty"`
	// Transport forces "framed", "unframed" or "header"; "" or "auto"
	// detects it per frame.
	Transport string `json:"transport,omitempty"`
	// Protocol forces "binary" or "compact"; "" or "auto" detects it.
	Protocol string `json:"protocol,omitempty"`
	// DefaultService is the service of a request whose name carries no
	// "Service:" prefix and whose THeader has no ServiceHeader.
	DefaultService string `json:"default_service,omitempty"`
	// ServiceHeader is the THeader info header naming the service.
	ServiceHeader string `json:"service_header,omitempty"`
	// DeclaredExceptionIsFailure maps a reply carrying a declared
	// exception to 500 for MOSN's retries, outlier detection and stats.
	// The default treats it as a successful call (the RPC worked, the
	// handler threw), so non-idempotent calls are not retried.
	DeclaredExceptionIsFailure bool `json:"declared_exception_is_failure,omitempty"`
	// OnewayMethods lists methods ("method" or "Service:method") whose
	// CALL messages expect no reply. Apache Thrift's Go library (0.17)
	// sends oneway calls as CALL, not ONEWAY; without this the proxy would
	// wait for a reply that never comes and then answer the caller with
	// an exception it does not read, desynchronising its connection.
	OnewayMethods []string `json:"oneway_methods,omitempty"`
	// MaxDepth bounds struct nesting when stepping over unframed messages.
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxHeaders bounds the THeader info headers of one frame.
	MaxHeaders int `json:"max_headers,omitempty"`
	// UpstreamConnections is "auto" (the default: per client for unframed
	// messages, shared for framed and THeader), "per_client" (each client
	// connection gets upstream connections of its own) or "shared" (MOSN
	// multiplexes every client's calls onto one connection per host).
	// See kindProtocol.PoolMode.
	UpstreamConnections string `json:"upstream_connections,omitempty"`
	// stall_timeout and frame_timeout (static binary; rpcmeta.ConnTimeouts).
	rpcmeta.ConnTimeouts
	// coalesce_writes and max_pending_write_bytes (static binary;
	// rpcmeta.ConnWrites).
	rpcmeta.ConnWrites
	stall, frame time.Duration
	coalesce     bool
	maxPending   int
}

// Defaults.
const (
	DefaultServiceHeader = "service"
	DefaultMaxDepth      = 64
	DefaultMaxHeaders    = 256
)

// Values of upstream_connections (rpcmeta).
const (
	UpstreamAuto      = rpcmeta.UpstreamAuto
	UpstreamPerClient = rpcmeta.UpstreamPerClient
	UpstreamShared    = rpcmeta.UpstreamShared
)

func (c Config) withDefaults() Config {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.ServiceHeader == "" {
		c.ServiceHeader = DefaultServiceHeader
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxHeaders == 0 {
		c.MaxHeaders = DefaultMaxHeaders
	}
	c.stall, c.frame, _ = c.ConnTimeouts.Parse("thrift") // Validate reports bad values
	c.coalesce, c.maxPending, _ = c.ConnWrites.Parse("thrift")
	return c
}

// Validate names the field and value that are wrong.
func (c Config) Validate() error {
	if c.MaxFrameBytes < 16 || c.MaxFrameBytes > 1<<30 {
		return fmt.Errorf("thrift config: max_frame_bytes %d out of range [16, %d]", c.MaxFrameBytes, 1<<30)
	}
	if _, _, err := c.ConnTimeouts.Parse("thrift"); err != nil {
		return err
	}
	if _, _, err := c.ConnWrites.Parse("thrift"); err != nil {
		return err
	}
	switch c.Transport {
	case "", "auto", "framed", "unframed", "buffered", "header":
	default:
		return fmt.Errorf("thrift config: transport %q: want auto, framed, unframed or header", c.Transport)
	}
	switch c.Protocol {
	case "", "auto", "binary", "compact":
	default:
		return fmt.Errorf("thrift config: protocol %q: want auto, binary or compact", c.Protocol)
	}
	if err := rpcmeta.CheckUpstreamConnections("thrift", c.UpstreamConnections); err != nil {
		return err
	}
	if c.MaxDepth < 1 || c.MaxDepth > 1024 {
		return fmt.Errorf("thrift config: max_depth %d out of range [1, 1024]", c.MaxDepth)
	}
	if c.MaxHeaders < 1 {
		return fmt.Errorf("thrift config: max_headers %d must be positive", c.MaxHeaders)
	}
	return nil
}

// ParseConfig reads a JSON config, fills defaults and validates it.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return Config{}, fmt.Errorf("thrift config: %w", err)
		}
	}
	c = c.withDefaults()
	return c, c.Validate()
}

// isOneway reports whether a CALL to name (possibly "Service:method") is
// configured as oneway.
func (c *Config) isOneway(name, method string) bool {
	for _, m := range c.OnewayMethods {
		if m == name || m == method {
			return true
		}
	}
	return false
}
