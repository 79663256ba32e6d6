package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// DefaultMaxHeaders bounds the headers of one frame unless the protocol's
// config says otherwise.
const DefaultMaxHeaders = 256

// Config is every kit codec's "extends" config:
//
//	{"type": "meshproto_bolt", "config": {"max_frame_bytes": 8388608, ...}}
type Config struct {
	// MaxFrameBytes is the largest frame accepted; a longer declared
	// length closes that connection before the frame is buffered.
	MaxFrameBytes int `json:"max_frame_bytes,omitempty"`
	// MaxHeaders bounds the headers (all header sets together) of a frame.
	MaxHeaders int `json:"max_headers,omitempty"`
	// WorkerPool runs each request's filters and routing in MOSN's worker
	// pool (default true), so that one slow request does not hold up the
	// frames behind it on its connection.
	WorkerPool *bool `json:"worker_pool,omitempty"`
	// UpstreamConnections: "shared" (default; "auto" is the same) or
	// "per_client" (rpcmeta.UpstreamPerClient).
	UpstreamConnections string `json:"upstream_connections,omitempty"`
	rpcmeta.ConnTimeouts
	rpcmeta.ConnWrites

	stall, frame time.Duration
	coalesce     bool
	maxPending   int
}

func (c Config) withDefaults(info Info) Config {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = info.DefaultMaxFrameBytes
	}
	if c.MaxHeaders == 0 {
		c.MaxHeaders = DefaultMaxHeaders
	}
	if c.WorkerPool == nil {
		on := true
		c.WorkerPool = &on
	}
	name := string(info.Name)
	c.stall, c.frame, _ = c.ConnTimeouts.Parse(name) // validate reports bad values
	c.coalesce, c.maxPending, _ = c.ConnWrites.Parse(name)
	return c
}

func (c Config) validate(info Info) error {
	name := string(info.Name)
	if c.MaxFrameBytes < info.MinFrameBytes || c.MaxFrameBytes > 1<<30 {
		return fmt.Errorf("%s config: max_frame_bytes %d out of range [%d, %d]", name, c.MaxFrameBytes, info.MinFrameBytes, 1<<30)
	}
	if c.MaxHeaders < 1 || c.MaxHeaders > 1<<16 {
		return fmt.Errorf("%s config: max_headers %d out of range [1, %d]", name, c.MaxHeaders, 1<<16)
	}
	if err := rpcmeta.CheckUpstreamConnections(name, c.UpstreamConnections); err != nil {
		return err
	}
	if _, _, err := c.ConnTimeouts.Parse(name); err != nil {
		return err
	}
	_, _, err := c.ConnWrites.Parse(name)
	return err
}

// XCodec is a kit protocol as the codec MOSN registers
// (xprotocol.RegisterXProtocolCodec, or a plugin's LoadCodec).
type XCodec struct {
	wire Wire
	info Info
	cfg  atomic.Pointer[Config]
}

var _ api.XProtocolCodec = (*XCodec)(nil)

// NewXCodec returns the codec for w with the default config.
func NewXCodec(w Wire) *XCodec {
	c := &XCodec{wire: w, info: w.Info()}
	cfg := Config{}.withDefaults(c.info)
	c.cfg.Store(&cfg)
	return c
}

func (c *XCodec) ProtocolName() api.ProtocolName { return c.info.Name }

// ExtendType is the "extends" type that configures the codec.
func (c *XCodec) ExtendType() string { return "meshproto_" + string(c.info.Name) }

// NewXProtocol returns the protocol for one connection, with the config in
// force when the connection was made.
func (c *XCodec) NewXProtocol(context.Context) api.XProtocol {
	return &Protocol{wire: c.wire, info: c.info, cfg: *c.cfg.Load()}
}

func (c *XCodec) ProtocolMatch() api.ProtocolMatch { return c.wire.Match }
func (c *XCodec) HTTPMapping() api.HTTPMapping     { return statusMapping{c.wire} }

// StallTimeout, FrameTimeout and WriteCoalescing are the options the
// static binary's stream layer reads (internal/stallwatch, coalesce).
func (c *XCodec) StallTimeout() time.Duration { return c.cfg.Load().stall }
func (c *XCodec) FrameTimeout() time.Duration { return c.cfg.Load().frame }
func (c *XCodec) WriteCoalescing() (bool, int) {
	cfg := c.cfg.Load()
	return cfg.coalesce, cfg.maxPending
}

// Config returns the config in force.
func (c *XCodec) Config() Config { return *c.cfg.Load() }

// Configure validates cfg and applies it to connections made from now on.
func (c *XCodec) Configure(cfg Config) error {
	cfg = cfg.withDefaults(c.info)
	if err := cfg.validate(c.info); err != nil {
		return err
	}
	c.cfg.Store(&cfg)
	return nil
}

// ConfigureJSON parses an "extends" config and applies it.
func (c *XCodec) ConfigureJSON(raw json.RawMessage) error {
	var cfg Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return fmt.Errorf("%s config: %w", c.info.Name, err)
		}
	}
	return c.Configure(cfg)
}

// statusMapping is the HTTPMapping MOSN asks for a response's status.
type statusMapping struct{ wire Wire }

var errNotResponse = errors.New("kit: not a response frame of this codec")

func (m statusMapping) MappingHeaderStatusCode(ctx context.Context, headers api.HeaderMap) (int, error) {
	f, ok := headers.(*Frame)
	if !ok || f == nil || f.Kind.IsRequest() {
		return 0, errNotResponse
	}
	return m.wire.HTTPStatus(f.Status), nil
}
