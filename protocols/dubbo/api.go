package dubbo

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"mosn.io/api"
	"mosn.io/pkg/buffer"
)

// XCodec is the codec registered with MOSN (xprotocol.RegisterXProtocolCodec
// or a plugin's LoadCodec). Its zero value uses the defaults.
type XCodec struct {
	cfg atomic.Pointer[Config]
}

var _ api.XProtocolCodec = (*XCodec)(nil)

// ProtocolName is "dubbo".
func (c *XCodec) ProtocolName() api.ProtocolName { return ProtocolName }

// NewXProtocol returns the protocol for one connection, with the
// configuration in force when the connection was made.
func (c *XCodec) NewXProtocol(context.Context) api.XProtocol {
	return &Protocol{cfg: c.config()}
}

// config is the configuration in force: the last Configure, or the
// defaults.
func (c *XCodec) config() Config {
	if cfg := c.cfg.Load(); cfg != nil {
		return *cfg
	}
	return Config{}.withDefaults()
}

// StallTimeout is the configured stall_timeout (internal/stallwatch).
func (c *XCodec) StallTimeout() time.Duration { return c.config().stall }

// FrameTimeout is the configured frame_timeout (internal/stallwatch).
func (c *XCodec) FrameTimeout() time.Duration { return c.config().frame }

// WriteCoalescing is the configured coalesce_writes and
// max_pending_write_bytes (internal/coalesce).
func (c *XCodec) WriteCoalescing() (bool, int) {
	cfg := c.config()
	return cfg.coalesce, cfg.maxPending
}

// ProtocolMatch recognises Dubbo on "Auto" listeners.
func (c *XCodec) ProtocolMatch() api.ProtocolMatch { return Match }

// HTTPMapping maps Dubbo statuses for MOSN's retry and stats.
func (c *XCodec) HTTPMapping() api.HTTPMapping { return StatusMapping{} }

// Configure validates cfg and applies it to connections made from now on.
func (c *XCodec) Configure(cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	c.cfg.Store(&cfg)
	return nil
}

// newBodyBuffer wraps a frame's body for MOSN. The wrapper owns no pooled
// memory, so MOSN returning it to its pool never recycles the frame's bytes.
func newBodyBuffer(raw []byte) api.IoBuffer { return buffer.NewIoBufferBytes(raw[HeaderLen:]) }

// ExtendType is the MOSN "extends" type that configures this codec:
// {"type": "meshproto_dubbo", "config": {...}}.
const ExtendType = "meshproto_dubbo"

// ConfigureJSON parses an "extends" config and applies it; it is what both
// the meshproto MOSN binary and the Go plugin register for ExtendType.
func (c *XCodec) ConfigureJSON(raw json.RawMessage) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	return c.Configure(cfg)
}
