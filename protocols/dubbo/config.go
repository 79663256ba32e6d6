package dubbo

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// DefaultMaxFrameBytes bounds one frame (header + body). Dubbo's own default
// payload limit is 8 MiB (the "payload" URL parameter).
const DefaultMaxFrameBytes = 8 << 20

// Config tunes the codec. It is read from MOSN's "extends" section with type
// "meshproto_dubbo" in the meshproto MOSN binary.
type Config struct {
	// MaxFrameBytes is the largest frame accepted; a larger declared length
	// closes that connection before any of the body is buffered.
	MaxFrameBytes int `json:"max_frame_bytes,omitempty"`
	// MaxAttachments bounds the entries of one attachment map.
	MaxAttachments int `json:"max_attachments,omitempty"`
	// WorkerPool runs each request's filters and routing in MOSN's worker
	// pool (default true). false runs them on the connection's reader,
	// which saves a goroutine hand-off per request but lets one slow
	// request (a fault delay, a slow filter) hold up the frames behind it
	// on that connection.
	WorkerPool *bool `json:"worker_pool,omitempty"`
	// UpstreamConnections: "shared" (also "auto", the default: Dubbo
	// servers multiplex one connection by request id) or "per_client"
	// (every client connection gets upstream connections of its own, so a
	// provider that drops or stops reading a connection over one request,
	// as dubbo-go v3.0.5's sometimes does, fails only that client).
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

// DefaultMaxAttachments is generous: Dubbo itself sets about ten.
const DefaultMaxAttachments = 256

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxAttachments == 0 {
		c.MaxAttachments = DefaultMaxAttachments
	}
	if c.WorkerPool == nil {
		on := true
		c.WorkerPool = &on
	}
	c.stall, c.frame, _ = c.ConnTimeouts.Parse("dubbo") // Validate reports bad values
	c.coalesce, c.maxPending, _ = c.ConnWrites.Parse("dubbo")
	return c
}

// Validate names the field and value that are wrong.
func (c Config) Validate() error {
	if c.MaxFrameBytes < HeaderLen || c.MaxFrameBytes > 1<<30 {
		return fmt.Errorf("dubbo config: max_frame_bytes %d out of range [%d, %d]", c.MaxFrameBytes, HeaderLen, 1<<30)
	}
	if err := rpcmeta.CheckUpstreamConnections("dubbo", c.UpstreamConnections); err != nil {
		return err
	}
	if c.MaxAttachments < 1 {
		return fmt.Errorf("dubbo config: max_attachments %d must be positive", c.MaxAttachments)
	}
	if _, _, err := c.ConnTimeouts.Parse("dubbo"); err != nil {
		return err
	}
	if _, _, err := c.ConnWrites.Parse("dubbo"); err != nil {
		return err
	}
	return nil
}

// ParseConfig reads a JSON config, fills defaults and validates it.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return Config{}, fmt.Errorf("dubbo config: %w", err)
		}
	}
	c = c.withDefaults()
	return c, c.Validate()
}
