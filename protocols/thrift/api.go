package thrift

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"mosn.io/api"
)

// XCodec is the codec registered with MOSN. Its zero value detects the
// transport and protocol of every frame.
type XCodec struct {
	cfg       atomic.Pointer[Config]
	kindPools atomic.Bool // KindCodecs were handed out for registration
}

var _ api.XProtocolCodec = (*XCodec)(nil)

func (c *XCodec) ProtocolName() api.ProtocolName { return ProtocolName }

// NewXProtocol returns the protocol for one connection with the
// configuration in force when it was made.
func (c *XCodec) NewXProtocol(context.Context) api.XProtocol {
	return &Protocol{cfg: c.config(), kindPools: c.kindPools.Load()}
}

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

// ProtocolMatch recognises Thrift on "Auto" listeners.
func (c *XCodec) ProtocolMatch() api.ProtocolMatch { return Match }

// HTTPMapping maps Thrift outcomes for MOSN's retry and stats.
func (c *XCodec) HTTPMapping() api.HTTPMapping { return StatusMapping{codec: c} }

// Configure validates cfg and applies it to connections made from now on.
func (c *XCodec) Configure(cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	c.cfg.Store(&cfg)
	return nil
}

// ExtendType is the MOSN "extends" type that configures this codec:
// {"type": "meshproto_thrift", "config": {...}}.
const ExtendType = "meshproto_thrift"

// ConfigureJSON parses an "extends" config and applies it; it is what both
// the meshproto MOSN binary and the Go plugin register for ExtendType.
func (c *XCodec) ConfigureJSON(raw json.RawMessage) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	return c.Configure(cfg)
}
