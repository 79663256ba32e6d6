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
	// StallTimeout: an upstream connection with requests in flight that
	// receives nothing for this long is closed and replaced (static
	// binary; rpcmeta.DefaultStallTimeout, "0s" turns it off).
	StallTimeout string `json:"stall_timeout,omitempty"`
	// FrameTimeout: a downstream frame not complete this long after its
	// first byte closes the connection (static binary;
	// rpcmeta.DefaultFrameTimeout, "0s" turns it off).
	FrameTimeout string `json:"frame_timeout,omitempty"`
	stall, frame time.Duration
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
	// Validate reports bad values.
	c.stall, _ = rpcmeta.ParseTimeout("dubbo", "stall_timeout", c.StallTimeout, rpcmeta.DefaultStallTimeout)
	c.frame, _ = rpcmeta.ParseTimeout("dubbo", "frame_timeout", c.FrameTimeout, rpcmeta.DefaultFrameTimeout)
	return c
}

// Validate names the field and value that are wrong.
func (c Config) Validate() error {
	if c.MaxFrameBytes < HeaderLen || c.MaxFrameBytes > 1<<30 {
		return fmt.Errorf("dubbo config: max_frame_bytes %d out of range [%d, %d]", c.MaxFrameBytes, HeaderLen, 1<<30)
	}
	if c.MaxAttachments < 1 {
		return fmt.Errorf("dubbo config: max_attachments %d must be positive", c.MaxAttachments)
	}
	if _, err := rpcmeta.ParseTimeout("dubbo", "stall_timeout", c.StallTimeout, 0); err != nil {
		return err
	}
	if _, err := rpcmeta.ParseTimeout("dubbo", "frame_timeout", c.FrameTimeout, 0); err != nil {
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
