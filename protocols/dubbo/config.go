package dubbo

import (
	"encoding/json"
	"fmt"
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
